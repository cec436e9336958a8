package portsiptest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// The public endpoints: /info and the OAuth token endpoint with the PBX's
// login lockout.

func (s *Server) info(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	mode, body := s.st.InfoMode, s.st.InfoBody
	s.mu.Unlock()
	switch mode {
	case "slow":
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
		panic(http.ErrAbortHandler) // never answer
	case "500":
		http.Error(w, "Unknown Error", http.StatusInternalServerError)
	case "502":
		http.Error(w, "<html><body>502 Bad Gateway</body></html>", http.StatusBadGateway)
	case "404":
		http.NotFound(w, r)
	default:
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, body)
	}
}

func randomToken(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		jsonError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f := r.PostForm
	if f.Get("client_id") != ClientID || f.Get("scope") != "all" {
		jsonError(w, http.StatusBadRequest, "invalid_client", "unknown client")
		return
	}
	ok := false
	switch f.Get("grant_type") {
	case "password":
		ok = s.passwordGrant(w, f)
	case "refresh_token":
		ok = s.refreshGrant(w, f)
	default:
		jsonError(w, http.StatusBadRequest, "unsupported_grant_type", "")
	}
	if !ok {
		return
	}
	at, rt := randomToken("at-"), randomToken("rt-")
	s.access[at], s.refreshT[rt] = true, true
	s.issued = append(s.issued, at, rt)
	writeJSON(w, map[string]any{
		"access_token": at, "token_type": "Bearer", "expires_in": int(s.st.TokenLifetime / time.Second), "refresh_token": rt,
	})
}

// passwordGrant checks a password login, counting failures towards the
// lockout, and answers the refusal; the caller holds s.mu.
func (s *Server) passwordGrant(w http.ResponseWriter, f url.Values) bool {
	s.logins++
	now := time.Now()
	if s.st.Blocked || now.Before(s.lockedTo) {
		until := s.lockedTo
		if s.st.Blocked {
			until = now.Add(time.Hour)
		}
		jsonError(w, http.StatusForbidden, "DENIED", "the client IP address 127.0.0.1 has been blocked until "+until.UTC().Format(time.DateTime)+" (DENIED)")
		return false
	}
	if f.Get("username") != s.st.User || f.Get("password") != s.st.Password {
		s.bad++
		s.failed++
		if s.st.LockoutAfter > 0 && s.failed >= s.st.LockoutAfter {
			s.lockedTo, s.failed = now.Add(s.st.LockoutFor), 0
		}
		desc := "Login failed, authentication error."
		if s.st.EchoSecret {
			desc += " password=" + f.Get("password")
		}
		jsonError(w, http.StatusUnauthorized, "invalid_grant", desc)
		return false
	}
	s.failed = 0
	return true
}

// refreshGrant spends a refresh token, or answers why it cannot; the
// caller holds s.mu.
func (s *Server) refreshGrant(w http.ResponseWriter, f url.Values) bool {
	s.refresh++
	rt := f.Get("refresh_token")
	if !s.refreshT[rt] {
		s.badRef++
		desc := "refresh token expired"
		if s.st.EchoSecret {
			desc += ": " + rt
		}
		jsonError(w, http.StatusBadRequest, "invalid_grant", desc)
		return false
	}
	delete(s.refreshT, rt)
	return true
}
