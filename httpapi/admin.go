package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/workflow"
)

// DeadLetters is the dead-letter queue as the API serves it (sqlite.DB
// locally, sqsdlq.Queue on AWS).
type DeadLetters interface {
	// DeadLetters returns the failed runs in the queue, oldest first.
	DeadLetters(ctx context.Context) ([]workflow.DeadLetter, error)
	// Redrive starts a failed run again and takes it off the queue:
	// ENOTFOUND if it is not queued, ECONFLICT while it is still failing.
	Redrive(ctx context.Context, fileID string) error
}

// KeyAdmin manages API keys for admin keys.
type KeyAdmin interface {
	// CreateKey stores a key (Hash set; zero limits take the defaults).
	CreateKey(ctx context.Context, k txpipe.APIKey) error
	// ListKeys returns the valid keys with their requests on day.
	ListKeys(ctx context.Context, day string) ([]txpipe.KeyListing, error)
	// SetKeyLimits changes a key's quota and rate (zero: unchanged).
	SetKeyLimits(ctx context.Context, id string, quotaPerDay int64, ratePerSecond float64) error
	// RevokeKey makes a key unusable; ENOTFOUND if there is none.
	RevokeKey(ctx context.Context, id string) error
}

func (s *Server) handleDLQList(w http.ResponseWriter, r *http.Request) {
	tenant, err := s.requestTenant(r, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	letters, err := s.cfg.DeadLetters.DeadLetters(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items := make([]txpipe.FailedRun, 0, len(letters))
	for _, d := range letters {
		if !txpipe.TenantMatches(tenant, d.FileID) {
			continue
		}
		t, id := txpipe.SplitFileID(d.FileID)
		items = append(items, txpipe.FailedRun{FileID: id, Tenant: t, Filename: d.State.Filename, Failure: workflow.FailureReason(d.State.Error), SentAt: d.SentAt.UTC()})
	}
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

func (s *Server) handleDLQRedrive(w http.ResponseWriter, r *http.Request) {
	scoped, err := s.scopedFileID(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	id := r.PathValue("file_id")
	if err := s.cfg.DeadLetters.Redrive(r.Context(), scoped); err != nil {
		s.writeError(w, r, unscoped(err, scoped))
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"file_id": id, "redriven": true, "status_url": s.statusURL(r, id)})
}

// adminOnly lets requests of admin keys through, and answers 403 to the
// others (and to every request when keys are not checked here).
func (s *Server) adminOnly(next http.HandlerFunc) http.Handler {
	return s.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if infoOf(r.Context()).role != txpipe.RoleAdmin {
			s.writeError(w, r, txpipe.Errorf(txpipe.EFORBIDDEN, "this needs an API key with the %s role", txpipe.RoleAdmin))
			return
		}
		next(w, r)
	}))
}

// NewKeyRequest is the body of POST /keys.
type NewKeyRequest struct {
	Name          string  `json:"name"`
	QuotaPerDay   int64   `json:"quota_per_day"`
	RatePerSecond float64 `json:"rate_per_second"`
	Role          string  `json:"role"`
	Tenant        string  `json:"tenant,omitempty"` // the default tenant if empty
}

// NewKeyAnswer is the answer to POST /keys: the secret is shown only here.
type NewKeyAnswer struct {
	txpipe.APIKey
	Secret string `json:"api_key"`
}

// KeyLimits is the body of PATCH /keys/{id}.
type KeyLimits struct {
	QuotaPerDay   int64   `json:"quota_per_day"`
	RatePerSecond float64 `json:"rate_per_second"`
}

func decodeJSONRequest(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return txpipe.Errorf(txpipe.EINVALID, "request body is not the expected JSON: %v", err)
	}
	return nil
}

func (s *Server) handleKeysList(w http.ResponseWriter, r *http.Request) {
	now := s.cfg.Now()
	day := now.UTC().Format(time.DateOnly)
	// Today's counts are kept in memory between checkpoints: save them
	// first, so the listing includes this very request.
	if s.cfg.Keys != nil {
		if err := s.usage.flush(r.Context(), now); err != nil {
			s.writeError(w, r, fmt.Errorf("save request counts: %w", err))
			return
		}
	}
	items, err := s.cfg.KeyAdmin.ListKeys(r.Context(), day)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"day": day, "items": items})
}

func (s *Server) handleKeyCreate(w http.ResponseWriter, r *http.Request) {
	var req NewKeyRequest
	if err := decodeJSONRequest(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	switch {
	case req.Name == "" || len(req.Name) > 100:
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "name must be 1 to 100 characters"))
		return
	case req.QuotaPerDay < 0 || req.RatePerSecond < 0:
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "quota_per_day and rate_per_second must not be negative"))
		return
	case req.Role != txpipe.RoleUser && req.Role != txpipe.RoleAdmin:
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "role must be %q or empty", txpipe.RoleAdmin))
		return
	}
	req.Tenant = txpipe.TenantOrDefault(req.Tenant)
	if err := txpipe.CheckTenant(req.Tenant); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.QuotaPerDay == 0 {
		req.QuotaPerDay = DefaultQuotaPerDay
	}
	if req.RatePerSecond == 0 {
		req.RatePerSecond = DefaultRatePerSecond
	}
	secret, k, err := CreateTenantKey(r.Context(), s.cfg.KeyAdmin, req.Name, req.QuotaPerDay, req.RatePerSecond, req.Role, req.Tenant)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, NewKeyAnswer{APIKey: k, Secret: secret})
}

func (s *Server) handleKeyLimits(w http.ResponseWriter, r *http.Request) {
	var req KeyLimits
	if err := decodeJSONRequest(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.QuotaPerDay < 0 || req.RatePerSecond < 0 || req.RatePerSecond > 10000 {
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "quota_per_day must not be negative and rate_per_second must be from 0 to 10000"))
		return
	}
	if err := s.cfg.KeyAdmin.SetKeyLimits(r.Context(), r.PathValue("id"), req.QuotaPerDay, req.RatePerSecond); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleKeyRevoke(w http.ResponseWriter, r *http.Request) {
	if err := s.cfg.KeyAdmin.RevokeKey(r.Context(), r.PathValue("id")); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleWhoAmI tells the console the name and role of its key.
func (s *Server) handleWhoAmI(w http.ResponseWriter, r *http.Request) {
	ri := infoOf(r.Context())
	writeJSON(w, http.StatusOK, map[string]string{"name": ri.key, "role": ri.role, "tenant": txpipe.TenantOrDefault(ri.tenant)})
}
