package config

import (
	"slices"
	"testing"
)

func TestSecrets(t *testing.T) {
	c := Default()
	c.API.Password = "api-pw"
	c.SMTP.Password = "smtp-pw"
	c.SMTP.Fallback.Password = "fb-pw"
	got := c.Secrets()
	slices.Sort(got)
	if want := []string{"api-pw", "fb-pw", "smtp-pw"}; !slices.Equal(got, want) {
		t.Errorf("Secrets() = %q, want %q", got, want)
	}
	if (*Config)(nil).Secrets() != nil {
		t.Error("nil config has secrets")
	}
}
