package windows

// ServiceName is the name the agent registers with the Service Control
// Manager and the Event Log.
const ServiceName = "pbxagent"

// ServiceOptions are the Service Control Manager settings of the agent, in
// the form github.com/kardianos/service takes: automatic start delayed until
// the system has settled, restart 5 s after a failure (the failure count
// resets after a day), and LocalSystem as the account (no user name).
func ServiceOptions() map[string]any {
	return map[string]any{
		"StartType":              "automatic",
		"DelayedAutoStart":       true,
		"OnFailure":              "restart",
		"OnFailureDelayDuration": "5s",
		"OnFailureResetPeriod":   86400,
	}
}

// ServiceArguments is the command line the service manager starts the agent
// with.
func ServiceArguments(configPath string) []string {
	return []string{"run", "--config", configPath}
}
