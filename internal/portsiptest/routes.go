package portsiptest

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// dataRoutes answer the routes that need a token, with s.mu held.
var dataRoutes = map[string]func(s *Server, w http.ResponseWriter, r *http.Request, id string){
	RouteAdminStatus: func(s *Server, w http.ResponseWriter, _ *http.Request, _ string) {
		writeJSON(w, s.st.AdminStatus)
	},
	RouteProviders: func(s *Server, w http.ResponseWriter, r *http.Request, _ string) {
		page(w, r, len(s.st.Trunks), func(i int) any {
			t := s.st.Trunks[i]
			return map[string]any{"id": t.ID, "name": t.Name, "enabled": true, "hostname": "sip." + t.Name + ".example", "port": 5060}
		})
	},
	RouteProviderStatus: func(s *Server, w http.ResponseWriter, r *http.Request, id string) {
		byID(w, r, s.st.Trunks, id, func(t Trunk) string { return t.ID }, func(t Trunk) any {
			return map[string]any{"status": t.Status}
		})
	},
	RouteMediaServers: func(s *Server, w http.ResponseWriter, r *http.Request, _ string) {
		page(w, r, len(s.st.Media), func(i int) any {
			m := s.st.Media[i]
			return map[string]any{"id": m.ID, "name": m.Name, "type": "INTERNAL", "enabled": true, "max_concurrency": m.MaxConcurrency}
		})
	},
	RouteMediaStatus: func(s *Server, w http.ResponseWriter, r *http.Request, id string) {
		byID(w, r, s.st.Media, id, func(m MediaServer) string { return m.ID }, func(m MediaServer) any {
			return map[string]any{"status": m.Status, "current_concurrency": m.Concurrency, "cpu_usage": m.CPU, "memory_usage": m.Memory}
		})
	},
	RouteTransports: func(s *Server, w http.ResponseWriter, r *http.Request, _ string) {
		page(w, r, len(s.st.Transports), func(i int) any {
			t := s.st.Transports[i]
			return map[string]any{"id": t.ID, "protocol": t.Protocol, "port": t.Port}
		})
	},
	RouteTransportState: func(s *Server, w http.ResponseWriter, r *http.Request, id string) {
		byID(w, r, s.st.Transports, id, func(t Transport) string { return t.ID }, func(t Transport) any {
			return map[string]any{"status": t.Status}
		})
	},
	RouteCDRs: func(s *Server, w http.ResponseWriter, r *http.Request, _ string) {
		n := len(s.st.CDRs)
		if s.st.CDRsOldestFirst {
			page(w, r, n, func(i int) any { return s.st.CDRs[i] })
			return
		}
		page(w, r, n, func(i int) any { return s.st.CDRs[n-1-i] })
	},
	RouteIPFilters: func(s *Server, w http.ResponseWriter, r *http.Request, _ string) {
		s.ipFilters(w, r)
	},
}

// byID answers with the status of the item with this id, or 404.
func byID[T any](w http.ResponseWriter, r *http.Request, items []T, id string, idOf func(T) string, status func(T) any) {
	for _, it := range items {
		if idOf(it) == id {
			writeJSON(w, status(it))
			return
		}
	}
	http.NotFound(w, r)
}

// page writes items skip..skip+top of n (top at most 100, as documented) in
// the documented {"count","items"} envelope.
func page(w http.ResponseWriter, r *http.Request, n int, item func(i int) any) {
	q := r.URL.Query()
	top, err := strconv.Atoi(q.Get("top"))
	if err != nil || top <= 0 || top > 100 {
		top = 100
	}
	skip, _ := strconv.Atoi(q.Get("skip"))
	skip = min(max(skip, 0), n)
	end := min(skip+top, n)
	items := make([]any, 0, end-skip)
	for i := skip; i < end; i++ {
		items = append(items, item(i))
	}
	writeJSON(w, map[string]any{"count": n, "items": items})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func jsonError(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
}

// ipFilters answers /ip_filters; the caller holds s.mu.
func (s *Server) ipFilters(w http.ResponseWriter, r *http.Request) {
	all := s.st.Filters
	pg := all
	if !s.st.IgnorePaging {
		top, _ := strconv.Atoi(r.URL.Query().Get("top"))
		skip, _ := strconv.Atoi(r.URL.Query().Get("skip"))
		skip = min(max(skip, 0), len(all))
		end := len(all)
		if top > 0 && skip+top < end {
			end = skip + top
		}
		pg = all[skip:end]
	}
	if pg == nil {
		pg = []map[string]any{}
	}
	var v any
	switch s.st.FilterEnvelope {
	case "array":
		v = pg
	case "data":
		v = map[string]any{"data": map[string]any{"items": pg, "total": len(all)}}
	case "value":
		v = map[string]any{"value": pg}
	case "odata":
		v = map[string]any{"@odata.count": len(all), "Value": pg}
	default:
		v = map[string]any{"items": pg, "count": len(all)}
	}
	writeJSON(w, v)
}
