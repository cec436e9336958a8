package redact

import (
	"reflect"
	"testing"
)

func TestArgs(t *testing.T) {
	tests := []struct {
		in, want []string
		n        int
	}{
		{[]string{"pbxctl", "--password", "x", "--host", "h"}, []string{"pbxctl", "--password", M, "--host", "h"}, 1},
		{[]string{"pbxctl", "--password=x"}, []string{"pbxctl", "--password=" + M}, 1},
		{[]string{"pbxctl", "--smtp-password=p w"}, []string{"pbxctl", "--smtp-password=" + M}, 1},
		{[]string{"agent", "-api-key", "k1", "-token=t1"}, []string{"agent", "-api-key", M, "-token=" + M}, 2},
		{[]string{"mysql", "-p", "secret", "-u", "root"}, []string{"mysql", "-p", "secret", "-u", "root"}, 0},
		{[]string{"psql", "--password", "-h", "db"}, []string{"psql", "--password", "-h", "db"}, 0},
		{[]string{"app", "--password", "-x1"}, []string{"app", "--password", M}, 1},
		{[]string{"app", "--password"}, []string{"app", "--password"}, 0},
		{[]string{"app", "--password="}, []string{"app", "--password="}, 0},
		{[]string{"docker", "login", "--password-stdin", "-u", "bob"}, []string{"docker", "login", "--password-stdin", "-u", "bob"}, 0},
		{[]string{"app", "--secret-key", "/etc/app/key.pem"}, []string{"app", "--secret-key", "/etc/app/key.pem"}, 0},
		{[]string{"curl", "-u", "bob:pw", "--user=al:pw2", "-H", "Authorization: Bearer t", "https://u:p@h/?token=t2"},
			[]string{"curl", "-u", "bob:" + M, "--user=al:" + M, "-H", "Authorization: Bearer " + M, "https://u:" + M + "@h/?token=" + M}, 5},
		{[]string{"env", "DB_PASSWORD=x", "PATH=/bin", "cmd"}, []string{"env", "DB_PASSWORD=" + M, "PATH=/bin", "cmd"}, 1},
		{[]string{"pg_dump", "--dbname=postgres://portsip:pw@127.0.0.1/portsip"}, []string{"pg_dump", "--dbname=postgres://portsip:" + M + "@127.0.0.1/portsip"}, 1},
		{[]string{"sh", "-c", "export DB_PASSWORD=x\necho ok"}, []string{"sh", "-c", "export DB_PASSWORD=" + M + "\necho ok"}, 1},
		{[]string{"--username", "bob", "--author", "me", "--pass-through", "x"}, []string{"--username", "bob", "--author", "me", "--pass-through", "x"}, 0},
		{nil, []string{}, 0},
	}
	for _, tt := range tests {
		orig := append([]string(nil), tt.in...)
		got, n := New().Args(tt.in)
		if !reflect.DeepEqual(got, tt.want) || n != tt.n {
			t.Errorf("Args(%q)\n got %q, %d\nwant %q, %d", tt.in, got, n, tt.want, tt.n)
		}
		if !reflect.DeepEqual(orig, tt.in) {
			t.Errorf("Args modified its input %q", orig)
		}
		if again, n2 := New().Args(got); !reflect.DeepEqual(again, got) || n2 != 0 {
			t.Errorf("Args not idempotent on %q: %q, %d", got, again, n2)
		}
	}
}
