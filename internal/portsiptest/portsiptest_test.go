package portsiptest

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func client(s *Server) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.RootCAs()}}}
}

func login(t *testing.T, s *Server, pass string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"password"}, "username": {User}, "password": {pass}, "scope": {"all"}, "client_id": {ClientID}}
	resp, err := client(s).PostForm(s.URL+"/login/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func get(t *testing.T, s *Server, tok, path string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client(s).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func TestLockoutAfterFiveFailures(t *testing.T) {
	s := New(t)
	for range 5 {
		if code, _ := login(t, s, "wrong"); code != http.StatusUnauthorized {
			t.Fatalf("bad login: %d", code)
		}
	}
	code, m := login(t, s, Password)
	if code != http.StatusForbidden || !strings.Contains(m["error_description"].(string), "(DENIED)") {
		t.Fatalf("after 5 failures: %d %v", code, m)
	}
	if c := s.Count(); c.Logins != 6 || c.BadLogins != 5 || c.Auth != 0 {
		t.Fatalf("%+v", c)
	}
}

func TestPagingStatusAndRateLimit(t *testing.T) {
	s := New(t)
	s.Set(func(st *State) {
		for i := range 250 {
			st.Trunks = append(st.Trunks, Trunk{ID: string(rune('a'+i%26)) + strings.Repeat("x", i/26), Name: "t", Status: "ONLINE"})
		}
		st.Trunks[3].Status = "OFFLINE"
	})
	_, m := login(t, s, Password)
	tok := m["access_token"].(string)
	code, page := get(t, s, tok, "/providers?top=100&skip=200")
	if code != 200 || page["count"].(float64) != 250 || len(page["items"].([]any)) != 50 {
		t.Fatalf("%d %v", code, page["count"])
	}
	if _, st := get(t, s, tok, "/providers/d/status"); st["status"] != "OFFLINE" {
		t.Fatalf("%v", st)
	}
	if code, _ := get(t, s, "nope", "/providers"); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	s.Set(func(st *State) { st.RateLimit = 1; st.Missing = map[string]bool{RouteCDRs: true} })
	if code, _ := get(t, s, tok, "/cdrs"); code != http.StatusNotFound {
		t.Fatalf("missing: %d", code)
	}
	if code, _ := get(t, s, tok, "/cdrs"); code != http.StatusTooManyRequests {
		t.Fatalf("over the limit: %d", code)
	}
	c := s.Count()
	if c.RateLimited != 1 || c.Routes[RouteProviderStatus] != 1 || c.Unauthorized != 1 {
		t.Fatalf("%+v", c)
	}
}
