package gitops_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status, used by Flux and kpt) computes the health
// of a custom resource as follows (cli-utils v0.37.2, status.Compute):
//
//  1. metadata.deletionTimestamp set                                 -> Terminating
//  2. status.observedGeneration present and != metadata.generation  -> InProgress
//     (condition-level observedGeneration is ignored)
//  3. the first condition that is Reconciling=True                   -> InProgress
//     or Stalled=True                                                -> Failed (message = Stalled's)
//  4. a Ready condition: True -> Current; False or Unknown           -> InProgress (never Failed)
//  5. anything else, including no status at all                      -> Current
//
// So Ready=False alone can never yield Failed: the controllers must also write Stalled=True on
// terminal reasons. Reconciling=True is not strictly needed while Ready=False (rule 4 already
// gives InProgress) but is the kstatus convention; it must never be True together with Stalled.
// The testdata objects carry these extra conditions; the mutate cases below pin down why.

func withoutCondition(condType string) func(*unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		conds = slices.DeleteFunc(conds, func(c any) bool { return c.(map[string]any)["type"] == condType })
		if err := unstructured.SetNestedSlice(u.Object, conds, "status", "conditions"); err != nil {
			panic(err)
		}
	}
}

func withCondition(condType, condStatus, reason, msg string) func(*unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		withoutCondition(condType)(u)
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		conds = append(conds, map[string]any{
			"type": condType, "status": condStatus, "reason": reason, "message": msg,
			"observedGeneration": u.GetGeneration(), "lastTransitionTime": "2026-01-15T10:00:00Z",
		})
		if err := unstructured.SetNestedSlice(u.Object, conds, "status", "conditions"); err != nil {
			panic(err)
		}
	}
}

func withGeneration(gen int64) func(*unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) { u.SetGeneration(gen) }
}

func chain(fs ...func(*unstructured.Unstructured)) func(*unstructured.Unstructured) {
	return func(u *unstructured.Unstructured) {
		for _, f := range fs {
			f(u)
		}
	}
}

type kstatusCase struct {
	kind   string
	file   string // under testdata/
	name   string // for mutated variants
	mutate func(*unstructured.Unstructured)
	want   status.Status
}

var kstatusCases = []kstatusCase{
	// TableauWebhook, as written.
	{kind: "TableauWebhook", file: "healthy.yaml", want: status.CurrentStatus},
	// No status: kstatus cannot tell a resource its controller has not seen yet from one
	// without status; it reports Current. Nothing the controller writes can change this.
	{kind: "TableauWebhook", file: "progressing_noStatus.yaml", want: status.CurrentStatus},
	{kind: "TableauWebhook", file: "progressing_creating.yaml", want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "progressing_updating.yaml", want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "progressing_deleting.yaml", want: status.TerminatingStatus},
	{kind: "TableauWebhook", file: "progressing_tableauError.yaml", want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "progressing_siteNotReady.yaml", want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "progressing_siteNotFound.yaml", want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "progressing_destinationSecretNotFound.yaml", want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "progressing_unknownReason.yaml", want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "progressing_readyUnknown.yaml", want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "progressing_staleGeneration.yaml", want: status.InProgressStatus},
	// kstatus reads status.observedGeneration only, never a condition's: the controllers must
	// write status.observedGeneration in the same update as the conditions.
	{kind: "TableauWebhook", file: "progressing_staleReadyCondition.yaml", want: status.CurrentStatus},
	{kind: "TableauWebhook", file: "degraded_siteNotAllowed.yaml", want: status.FailedStatus},
	{kind: "TableauWebhook", file: "degraded_alreadyExists.yaml", want: status.FailedStatus},
	{kind: "TableauWebhook", file: "degraded_nameConflict.yaml", want: status.FailedStatus},
	{kind: "TableauWebhook", file: "degraded_rejected.yaml", want: status.FailedStatus},
	// Suspended: Ready=False/Suspended reads as InProgress; if Ready keeps its last value
	// (True) and only Synced says Suspended, kstatus ignores Synced and reads Current.
	{kind: "TableauWebhook", file: "suspended.yaml", want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "suspended_syncedOnly.yaml", want: status.CurrentStatus},

	// TableauSite, as written.
	{kind: "TableauSite", file: "healthy.yaml", want: status.CurrentStatus},
	{kind: "TableauSite", file: "progressing_noStatus.yaml", want: status.CurrentStatus},
	{kind: "TableauSite", file: "progressing_serverUnreachable.yaml", want: status.InProgressStatus},
	{kind: "TableauSite", file: "progressing_credentialsNotFound.yaml", want: status.InProgressStatus},
	{kind: "TableauSite", file: "progressing_unknownReason.yaml", want: status.InProgressStatus},
	{kind: "TableauSite", file: "progressing_readyUnknown.yaml", want: status.InProgressStatus},
	{kind: "TableauSite", file: "progressing_staleGeneration.yaml", want: status.InProgressStatus},
	{kind: "TableauSite", file: "progressing_staleReadyCondition.yaml", want: status.CurrentStatus},
	{kind: "TableauSite", file: "degraded_authenticationFailed.yaml", want: status.FailedStatus},
	{kind: "TableauSite", file: "degraded_insufficientPermissions.yaml", want: status.FailedStatus},
	{kind: "TableauSite", file: "degraded_siteNotFoundInTableau.yaml", want: status.FailedStatus},
	{kind: "TableauSite", file: "degraded_unsupportedVersion.yaml", want: status.FailedStatus},
	{kind: "TableauSite", file: "degraded_credentialsInUse.yaml", want: status.FailedStatus},
	{kind: "TableauSite", file: "degraded_invalidSpec.yaml", want: status.FailedStatus},

	// Why the extra conditions are needed, and what they must not do.
	{kind: "TableauWebhook", file: "degraded_rejected.yaml", name: "terminal reason without Stalled is only InProgress",
		mutate: withoutCondition("Stalled"), want: status.InProgressStatus},
	{kind: "TableauSite", file: "degraded_authenticationFailed.yaml", name: "terminal reason without Stalled is only InProgress",
		mutate: withoutCondition("Stalled"), want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "degraded_rejected.yaml", name: "Stalled=False is not Failed",
		mutate: withCondition("Stalled", "False", "Rejected", "x"), want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "progressing_tableauError.yaml", name: "transient reason without Reconciling is still InProgress",
		mutate: withoutCondition("Reconciling"), want: status.InProgressStatus},
	{kind: "TableauSite", file: "progressing_serverUnreachable.yaml", name: "transient reason without Reconciling is still InProgress",
		mutate: withoutCondition("Reconciling"), want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "healthy.yaml", name: "Reconciling=True overrides Ready=True",
		mutate: withCondition("Reconciling", "True", "Updating", "x"), want: status.InProgressStatus},
	{kind: "TableauWebhook", file: "healthy.yaml", name: "Stalled=True overrides Ready=True",
		mutate: withCondition("Stalled", "True", "Rejected", "x"), want: status.FailedStatus},
	{kind: "TableauWebhook", file: "healthy.yaml", name: "Reconciling=False and Stalled=False are ignored",
		mutate: chain(withCondition("Reconciling", "False", "Available", "x"), withCondition("Stalled", "False", "Available", "x")),
		want:   status.CurrentStatus},
	{kind: "TableauWebhook", file: "degraded_rejected.yaml", name: "a stale generation beats Stalled",
		mutate: withGeneration(3), want: status.InProgressStatus},
	{kind: "TableauSite", file: "degraded_invalidSpec.yaml", name: "a stale generation beats Stalled",
		mutate: withGeneration(3), want: status.InProgressStatus},
	// Both True at once: the first one in the list wins, so the controllers must never do it.
	{kind: "TableauWebhook", file: "degraded_rejected.yaml", name: "Stalled listed before Reconciling wins",
		mutate: withCondition("Reconciling", "True", "Updating", "x"), want: status.FailedStatus},
	{kind: "TableauWebhook", file: "progressing_tableauError.yaml", name: "Reconciling listed before Stalled wins",
		mutate: withCondition("Stalled", "True", "Rejected", "x"), want: status.InProgressStatus},
}

func TestKstatus(t *testing.T) {
	for _, tc := range kstatusCases {
		name := tc.kind + "/" + strings.TrimSuffix(tc.file, ".yaml")
		if tc.name != "" {
			name += "/" + tc.name
		}
		t.Run(name, func(t *testing.T) {
			u := readObject(t, filepath.Join(kindDir(tc.kind), "testdata", tc.file))
			if tc.mutate != nil {
				tc.mutate(u)
			}
			res, err := status.Compute(u)
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want {
				t.Fatalf("kstatus = %s (%s), want %s", res.Status, res.Message, tc.want)
			}
			if tc.want == status.FailedStatus && tc.mutate == nil {
				// Flux and kpt show the Stalled condition's message.
				if want := conditionField(u, "Stalled", "message"); res.Message != want || want == "" {
					t.Errorf("message = %q, want Stalled's %q", res.Message, want)
				}
				if got, want := conditionField(u, "Stalled", "reason"), readyReason(u); got != want {
					t.Errorf("Stalled reason %q, want Ready's %q", got, want)
				}
			}
		})
	}
}

// TestKstatusCoversEveryTestdataFile makes sure a new testdata file gets a kstatus expectation.
func TestKstatusCoversEveryTestdataFile(t *testing.T) {
	for _, kind := range kinds {
		for _, f := range testdataFiles(t, kind) {
			if !slices.ContainsFunc(kstatusCases, func(c kstatusCase) bool {
				return c.kind == kind && c.mutate == nil && "testdata/"+c.file == f
			}) {
				t.Errorf("%s/%s has no kstatus case", kind, f)
			}
		}
	}
}
