-- Argo CD health check for TableauSite (tableau.webhook-operator.dev/v1alpha1).
-- Uses only the Lua base and table libraries, so it runs as an argocd-cm customization
-- without resource.customizations.useOpenLibs.
local hs = {}

-- Ready=False reasons that no retry fixes until the spec or the credentials change.
-- They are the Terminal reasons of SiteReadyReasons in api/v1alpha1/reasons.go, one
-- `Reason = true,` a line; go test ./test/gitops/ checks that the two agree.
local terminalReasons = {
  AuthenticationFailed = true,
  UnsupportedVersion = true,
  CredentialsInUse = true,
  InvalidSpec = true,
  InsufficientPermissions = true,
  SiteNotFoundInTableau = true,
}

local function findCondition(conditions, conditionType)
  for _, condition in ipairs(conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function conditionMessage(condition)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  if condition.reason ~= nil and condition.reason ~= "" then
    return condition.reason
  end
  return "Waiting for the operator"
end

if obj.status == nil or obj.status.conditions == nil or #obj.status.conditions == 0 then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end

if generation ~= nil and obj.status.observedGeneration ~= nil and obj.status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

local ready = findCondition(obj.status.conditions, "Ready")

if ready ~= nil and generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator"
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = conditionMessage(ready)
  return hs
end

if ready.status == "False" and terminalReasons[ready.reason] then
  hs.status = "Degraded"
  hs.message = conditionMessage(ready)
  return hs
end

-- Ready=False with an in-progress, waiting or transient reason, or Ready=Unknown.
hs.status = "Progressing"
hs.message = conditionMessage(ready)
return hs
