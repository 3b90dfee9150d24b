package tableautest

import "maps"

// Stats counts API requests (not /_sim/) by operation and by the status the client got. Status 0
// counts requests that ended with the connection closed and no response (hangs, lost create
// responses). Injected faults are counted under the operation they hit.
type Stats struct {
	// ByOperation maps an operation (OpListWebhooks, …) to counts by HTTP status.
	ByOperation map[string]map[int]int
}

// Count returns the requests of one operation, any status.
func (st Stats) Count(op string) int {
	n := 0
	for _, c := range st.ByOperation[op] {
		n += c
	}
	return n
}

// Total returns every request counted.
func (st Stats) Total() int {
	n := 0
	for op := range st.ByOperation {
		n += st.Count(op)
	}
	return n
}

// Writes returns the Create, Update and Delete Webhook requests: the calls that change Tableau,
// which steady-state reconciliation should not make.
func (st Stats) Writes() int {
	return st.Count(OpCreateWebhook) + st.Count(OpUpdateWebhook) + st.Count(OpDeleteWebhook)
}

func (s *Server) record(op string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.stats[op]
	if m == nil {
		m = map[int]int{}
		s.stats[op] = m
	}
	m[status]++
}

// Count returns the requests of an operation (OpListWebhooks, …), any status.
func (s *Server) Count(op string) int {
	return s.Stats().Count(op)
}

// CountStatus returns the requests of an operation answered with status.
func (s *Server) CountStatus(op string, status int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats[op][status]
}

// Stats returns a copy of the request counts.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Stats{ByOperation: make(map[string]map[int]int, len(s.stats))}
	for op, m := range s.stats {
		out.ByOperation[op] = maps.Clone(m)
	}
	return out
}

// ResetStats sets every count back to zero.
func (s *Server) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.stats)
}
