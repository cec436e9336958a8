package collectors

import (
	"errors"
	"fmt"

	"github.com/pbxagent/pbxagent/portsip"
)

// apiNotApplicable returns the "not applicable" reason for a check of the
// REST API that cannot run: no client or no credentials. It returns nil when
// the check can run.
func apiNotApplicable(c *portsip.Client, what string) error {
	if c == nil || !c.HasCredentials() {
		return noData("set api.username and api.password to watch %s", what)
	}
	return nil
}

// apiError turns an API error into the check's result: "not applicable"
// with the reason when the check cannot run here (no credentials, a PBX
// version without the endpoint, credentials the PBX rejected — which the
// blocked_ips check reports once — or logins on hold), else a failure.
// It keeps a PBX without an endpoint from raising an error every round.
func apiError(err error, what string) error {
	switch {
	case errors.Is(err, portsip.ErrNoCredentials):
		return noData("set api.username and api.password to watch %s", what)
	case errors.Is(err, portsip.ErrNotSupported):
		return noData("this PBX version has no REST API endpoint for %s (%v)", what, err)
	case errors.Is(err, portsip.ErrForbidden):
		return noData("the API user may not read %s (HTTP 403); set api.username to a system administrator", what)
	case errors.Is(err, portsip.ErrCredentialsRejected):
		return noData("the PBX rejected the agent's API credentials (see the blocked_ips check); %s not checked", what)
	case errors.Is(err, portsip.ErrLoginHeld):
		return noData("PBX API login on hold; %s not checked: %v", what, err)
	default:
		return fmt.Errorf("read %s: %w", what, err)
	}
}

// percent returns 100*n/of, 0 when of is not positive.
func percent(n, of int) float64 {
	if of <= 0 {
		return 0
	}
	return 100 * float64(n) / float64(of)
}
