# Image URL to use all building/pushing image targets.
IMG ?= controller:latest

# Get the currently used golang install path (in GOPATH/bin, unless GOBIN is set).
ifeq (,$(shell go env GOBIN))
GOBIN=$(shell go env GOPATH)/bin
else
GOBIN=$(shell go env GOBIN)
endif

# CONTAINER_TOOL defines the container tool to be used for building images.
CONTAINER_TOOL ?= docker

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

.PHONY: all
all: build

##@ General

# The help target prints out all targets with their descriptions organized
# beneath their categories. The categories are represented by '##@' and the
# target descriptions by '##'.

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate ClusterRole and CustomResourceDefinition objects, and the Helm chart's templates of them (dist/chart).
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd webhook paths="./api/...;./controllers/..." output:crd:artifacts:config=config/crd/bases
	go run ./hack/helmchart

.PHONY: generate
generate: controller-gen ## Generate DeepCopy, DeepCopyInto and DeepCopyObject method implementations.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: test
test: manifests generate fmt vet controlplane kustomize helm monitoring-crds test-monitoring test-image ## Run all tests (unit, envtest integration, e2e) against a local kube-apiserver and etcd, and the alerting rules' tests.
	KUBEBUILDER_ASSETS="$(K8S_BIN)" IMAGE_ARCHIVE="$(abspath $(IMAGE_ARCHIVE))" KUSTOMIZE="$(KUSTOMIZE)" HELM="$(HELM)" MONITORING_CRDS="$(MONITORING_CRDS)" go test ./... -timeout 30m -coverprofile cover.out

.PHONY: test-unit
test-unit: ## Run the tests that need no control plane (go test -short).
	go test -short ./...

# -count=1: go test's cache does not recheck files outside the module (config/, README.md).
.PHONY: test-monitoring
test-monitoring: promtool ## Run the alerting rules' unit tests (promtool test rules) and check the Grafana dashboard's queries (hack/monitoring, a module of its own).
	cd hack/monitoring && PROMTOOL="$(PROMTOOL)" go test -count=1 ./...

.PHONY: lint
lint: golangci-lint ## Run golangci-lint.
	$(GOLANGCI_LINT) run

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint and perform fixes.
	$(GOLANGCI_LINT) run --fix

.PHONY: lint-config
lint-config: golangci-lint ## Verify the golangci-lint configuration.
	$(GOLANGCI_LINT) config verify

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary.
	CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o bin/manager main.go

.PHONY: run
run: manifests generate fmt vet ## Run the manager from your host against the cluster of the current kubeconfig.
	go run ./main.go

# If you wish to build the manager image targeting other platforms you can use the --platform flag.
# (i.e. docker build --platform linux/arm64). However, you must enable docker buildKit for it.
# More info: https://docs.docker.com/develop/develop-images/build_enhancements/
.PHONY: docker-build
docker-build: ## Build docker image with the manager.
	$(CONTAINER_TOOL) build -t ${IMG} .

.PHONY: docker-push
docker-push: ## Push docker image with the manager.
	$(CONTAINER_TOOL) push ${IMG}

# The image archive `make image` writes (`docker save`'s format), and the architecture of its
# linux binary.
IMAGE_ARCHIVE ?= dist/image.tar
IMAGE_ARCH ?= $(shell go env GOARCH)

.PHONY: image
image: ## Build the manager image (tagged IMG) without Docker into dist/image.tar (hack/image, with go-containerregistry); load it with docker/podman load, kind load image-archive or crane push.
	cd hack/image && go run . --root "$(CURDIR)" --tag "$(IMG)" --arch "$(IMAGE_ARCH)" --output "$(abspath $(IMAGE_ARCHIVE))"

.PHONY: test-image
test-image: image ## Check the image archive as `crane push` reads it (hack/image's tests: go-containerregistry's validation, a push to an in-process registry).
	cd hack/image && IMAGE_ARCHIVE="$(abspath $(IMAGE_ARCHIVE))" go test ./...

.PHONY: build-installer
build-installer: manifests generate kustomize ## Generate a consolidated YAML with CRDs and deployment in dist/install.yaml.
	mkdir -p dist
	cd config/manager && $(KUSTOMIZE) edit set image controller=${IMG}
	$(KUSTOMIZE) build config/default > dist/install.yaml

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kustomize ## Install CRDs into the K8s cluster specified in ~/.kube/config.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Uninstall CRDs from the K8s cluster specified in ~/.kube/config. Call with ignore-not-found=true to ignore resource not found errors during deletion.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy controller to the K8s cluster specified in ~/.kube/config.
	cd config/manager && $(KUSTOMIZE) edit set image controller=${IMG}
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply -f -

.PHONY: undeploy
undeploy: kustomize ## Undeploy controller from the K8s cluster specified in ~/.kube/config. Call with ignore-not-found=true to ignore resource not found errors during deletion.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found=$(ignore-not-found) -f -

##@ Dependencies

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p $(LOCALBIN)

## Tool Binaries
# kubectl from PATH if there is one, else the one `make controlplane` builds.
KUBECTL ?= $(shell command -v kubectl 2>/dev/null || echo $(K8S_BIN)/kubectl)
KUSTOMIZE ?= $(LOCALBIN)/kustomize
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT ?= $(LOCALBIN)/golangci-lint

## Tool Versions (the latest that build with Go 1.26: kustomize v5.8.3 needs Go 1.27)
KUSTOMIZE_VERSION ?= v5.8.2
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.15.0

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Download kustomize locally if necessary.
$(KUSTOMIZE): $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Download controller-gen locally if necessary.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Download golangci-lint locally if necessary.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

# helm lints and renders the chart in dist/chart (make test-chart).
HELM ?= $(LOCALBIN)/helm
HELM_VERSION ?= v4.3.1

.PHONY: helm
helm: $(HELM) ## Download helm locally if necessary.
$(HELM): $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v4/cmd/helm,$(HELM_VERSION))

# The Prometheus Operator's CRDs (ServiceMonitor, PrometheusRule, ...), which the chart's tests
# install into the local API server: generated by controller-gen from the Go types of
# github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring, pinned in
# hack/monitoringcrds/go.mod.
MONITORING_API := github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring
MONITORING_VERSION := $(shell awk '{ for (i = 1; i < NF; i++) if ($$i == "$(MONITORING_API)") { print $$(i + 1); exit } }' hack/monitoringcrds/go.mod)
MONITORING_CRDS ?= $(LOCALBIN)/monitoring-crds/$(MONITORING_VERSION)-controller-gen-$(CONTROLLER_TOOLS_VERSION)

.PHONY: monitoring-crds
monitoring-crds: controller-gen ## Generate the Prometheus Operator's CRDs into bin/monitoring-crds (once per pinned version).
	@if [ -f "$(MONITORING_CRDS)/.done" ]; then exit 0; fi; \
	rm -rf "$(MONITORING_CRDS)"; \
	echo "Generating the CRDs of $(MONITORING_API) $(MONITORING_VERSION) into $(MONITORING_CRDS)"; \
	( cd hack/monitoringcrds && $(CONTROLLER_GEN) crd paths=$(MONITORING_API)/v1 output:crd:dir="$(MONITORING_CRDS)" ); \
	touch "$(MONITORING_CRDS)/.done"

# crd-ref-docs renders docs/api.md from the Go types (make docs).
CRD_REF_DOCS ?= $(LOCALBIN)/crd-ref-docs
CRD_REF_DOCS_VERSION ?= v0.3.0

.PHONY: crd-ref-docs
crd-ref-docs: $(CRD_REF_DOCS) ## Download crd-ref-docs locally if necessary.
$(CRD_REF_DOCS): $(LOCALBIN)
	$(call go-install-tool,$(CRD_REF_DOCS),github.com/elastic/crd-ref-docs,$(CRD_REF_DOCS_VERSION))

# promtool runs the alerting rules' unit tests (make test-monitoring): the promtool of the
# Prometheus release whose PromQL parser hack/monitoring uses (its go.mod pins it), built without
# the service discoveries (tag remove_all_sd: 1,117 packages instead of 1,419, the cloud SDKs
# among those left out), which rule tests do not use.
PROMTOOL ?= $(LOCALBIN)/promtool
PROMETHEUS_VERSION := $(shell awk '$$1 == "github.com/prometheus/prometheus" { print $$2; exit }' hack/monitoring/go.mod)

.PHONY: promtool
promtool: $(PROMTOOL) ## Download and build promtool locally if necessary.
$(PROMTOOL): export GOFLAGS := $(GOFLAGS) -tags=remove_all_sd
$(PROMTOOL): $(LOCALBIN)
	$(call go-install-tool,$(PROMTOOL),github.com/prometheus/prometheus/cmd/promtool,$(PROMETHEUS_VERSION))

##@ Documentation

.PHONY: docs
docs: crd-ref-docs ## Generate the API reference docs/api.md from the Go types in api/v1alpha1 (config and templates in docs/crd-ref-docs/).
	$(CRD_REF_DOCS) --source-path=./api/v1alpha1 --config=docs/crd-ref-docs/config.yaml \
		--templates-dir=docs/crd-ref-docs/templates --renderer=markdown --output-path=docs/api.md --log-level=WARN

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f $(1) ;\
GOBIN=$(LOCALBIN) go install $${package} ;\
mv $(1) $(1)-$(3) ;\
} ;\
ln -sf $$(realpath $(1)-$(3)) $(1)
endef

##@ Local control plane

# The control plane that envtest suites, e2e suites and the demo run: kube-apiserver,
# kube-controller-manager (namespace deletion and garbage collection, for the demo and the e2e
# and chaos suites) and kubectl from k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3, all
# built from source with the versions pinned in hack/controlplane/go.mod, so that nothing but
# Go is needed.
K8S_BIN ?= $(LOCALBIN)/k8s
K8S_VERSION := $(shell awk '$$1 == "k8s.io/kubernetes" { print $$2; exit }' hack/controlplane/go.mod)
ETCD_VERSION := $(shell awk '$$1 == "go.etcd.io/etcd/server/v3" { print $$2; exit }' hack/controlplane/go.mod)
CONTROLPLANE_STAMP := kube-apiserver=$(K8S_VERSION) kube-controller-manager=$(K8S_VERSION) kubectl=$(K8S_VERSION) etcd=$(ETCD_VERSION)
# The version the binaries report (kubectl version, /version); k8s.io/kubernetes sets these at release time.
K8S_MINOR := $(word 2,$(subst ., ,$(K8S_VERSION)))
K8S_LDFLAGS := -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(K8S_MINOR) \
	-X k8s.io/component-base/version.gitTreeState=clean \
	-X k8s.io/client-go/pkg/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$(K8S_MINOR) \
	-X k8s.io/client-go/pkg/version.gitTreeState=clean

.PHONY: controlplane
controlplane: ## Build kube-apiserver, kube-controller-manager, etcd and kubectl from source into bin/k8s (once; rebuilt when hack/controlplane pins change).
	@if [ -x "$(K8S_BIN)/kube-apiserver" ] && [ -x "$(K8S_BIN)/kube-controller-manager" ] && [ -x "$(K8S_BIN)/etcd" ] && [ -x "$(K8S_BIN)/kubectl" ] \
		&& [ "$$(cat "$(K8S_BIN)/.version" 2>/dev/null)" = "$(CONTROLPLANE_STAMP)" ]; then \
		echo "Control plane in $(K8S_BIN) is up to date ($(CONTROLPLANE_STAMP))."; \
		exit 0; \
	fi; \
	mkdir -p "$(K8S_BIN)"; \
	rm -f "$(K8S_BIN)/.version"; \
	start=$$(date +%s); \
	build() { \
		echo "Building $$1 $$2 from source into $(K8S_BIN): $$3"; \
		( cd hack/controlplane && go build -ldflags "$(K8S_LDFLAGS)" -o "$(K8S_BIN)/$$1.tmp" "$$4" ); \
		mv -f "$(K8S_BIN)/$$1.tmp" "$(K8S_BIN)/$$1"; \
		echo "  built $(K8S_BIN)/$$1 ($$(( $$(date +%s) - start ))s so far)"; \
	}; \
	build kube-apiserver $(K8S_VERSION) "the first build takes several minutes..." k8s.io/kubernetes/cmd/kube-apiserver; \
	build kube-controller-manager $(K8S_VERSION) "shares many packages with kube-apiserver..." k8s.io/kubernetes/cmd/kube-controller-manager; \
	build etcd $(ETCD_VERSION) "shares most packages with kube-apiserver, so it is quicker..." go.etcd.io/etcd/server/v3; \
	build kubectl $(K8S_VERSION) "almost done..." k8s.io/kubernetes/cmd/kubectl; \
	echo "$(CONTROLPLANE_STAMP)" > "$(K8S_BIN)/.version"; \
	echo "Control plane ready in $(K8S_BIN) ($(CONTROLPLANE_STAMP)) after $$(( $$(date +%s) - start ))s."

.PHONY: clean-controlplane
clean-controlplane: ## Remove the local control plane binaries (the Go build cache keeps a rebuild quick).
	rm -rf "$(K8S_BIN)"

##@ Demo and end-to-end

.PHONY: demo
demo: controlplane ## Run the operator locally (control plane, Tableau simulator, real manager, config/samples) until Ctrl-C; DEMO_ONCE=1 tours once and exits 0 or 1.
	@echo "Building the manager, the Tableau simulator and the demo into $(LOCALBIN)..."
	go build -o "$(LOCALBIN)/manager" .
	go build -o "$(LOCALBIN)/tableau-sim" ./hack/tableau-sim
	go build -o "$(LOCALBIN)/demo" ./hack/demo
	"$(LOCALBIN)/demo" --root "$(CURDIR)" --manager "$(LOCALBIN)/manager" --tableau-sim "$(LOCALBIN)/tableau-sim" --k8s-bin "$(K8S_BIN)"

.PHONY: test-e2e
test-e2e: controlplane kustomize helm monitoring-crds image ## Run only the end-to-end suites: the demo, the installer (dry run, RBAC as its ServiceAccount), the image and its container, the Helm chart.
	KUBEBUILDER_ASSETS="$(K8S_BIN)" IMAGE_ARCHIVE="$(abspath $(IMAGE_ARCHIVE))" HELM="$(HELM)" MONITORING_CRDS="$(MONITORING_CRDS)" go test ./test/e2e/ -count=1 -v -timeout 10m

.PHONY: test-chart
test-chart: manifests controlplane kustomize helm monitoring-crds image ## Run only the Helm chart's tests (helm lint, dry runs, the installer's objects, every manager flag, the manager as the chart's ServiceAccount, the image in a container as the chart's Deployment says).
	KUBEBUILDER_ASSETS="$(K8S_BIN)" IMAGE_ARCHIVE="$(abspath $(IMAGE_ARCHIVE))" KUSTOMIZE="$(KUSTOMIZE)" HELM="$(HELM)" MONITORING_CRDS="$(MONITORING_CRDS)" go test ./test/e2e/ -run '^(TestChart|TestContainerFromChart$$)' -count=1 -v -timeout 10m

.PHONY: chart-package
chart-package: manifests helm ## Package the Helm chart into dist/ (dist/tableau-webhook-operator-<version>.tgz).
	$(HELM) package dist/chart --destination dist

##@ Benchmarks and chaos

.PHONY: bench
bench: controlplane ## Measure DESIGN.md section 6's performance targets (real manager, local control plane, simulator): table on stdout, JSON in bin/bench/results.json. BENCH_N=200 for a quick look (default 1000).
	KUBEBUILDER_ASSETS="$(K8S_BIN)" go run ./hack/bench

.PHONY: test-chaos
test-chaos: controlplane ## Run the chaos suite (test/chaos) at full size (CHAOS_FULL=1); `make test` runs its small version.
	KUBEBUILDER_ASSETS="$(K8S_BIN)" CHAOS_FULL=1 go test ./test/chaos/ -count=1 -v -timeout 60m
