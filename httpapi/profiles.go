package httpapi

import (
	"cmp"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/profile"
	"github.com/txpipe/txpipe/workflow"
)

// ProfileStore keeps column-mapping profiles by name (sqlite locally, S3 on
// AWS).
type ProfileStore interface {
	PutProfile(ctx context.Context, p txpipe.StoredProfile) (created bool, err error)
	GetProfile(ctx context.Context, name string) (txpipe.StoredProfile, error)
	DeleteProfile(ctx context.Context, name string) error
	ListProfiles(ctx context.Context) ([]txpipe.StoredProfile, error)
}

// formatFields are the upload's form fields (or, for text/csv, query
// parameters) that say how to read the file.
var formatFields = []string{"delimiter", "encoding", "profile", "sheet"}

// maxFieldBytes bounds a format field's value.
const maxFieldBytes = 256

// readFormatField keeps the value of a format field part; other parts are
// left to the caller.
func readFormatField(part *multipart.Part, fields map[string]string) error {
	name := part.FormName()
	for _, f := range formatFields {
		if f != name {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if err != nil {
			return err
		}
		if len(b) > maxFieldBytes {
			return txpipe.Errorf(txpipe.EINVALID, "form field %q is longer than %d bytes", name, maxFieldBytes)
		}
		fields[name] = string(b)
	}
	return nil
}

// uploadFormat is the format the upload's fields declare, with the named
// profile fetched and parsed.
func (s *Server) uploadFormat(ctx context.Context, fields map[string]string) (csvschema.Format, error) {
	return workflow.ResolveFormat(ctx, s.cfg.Profiles, declaredFormat(fields))
}

// declaredFormat is the format fields as a txpipe.DeclaredFormat.
func declaredFormat(fields map[string]string) txpipe.DeclaredFormat {
	return txpipe.DeclaredFormat{Delimiter: fields["delimiter"], Encoding: fields["encoding"], Profile: fields["profile"], Sheet: fields["sheet"]}
}

// ProfileJSON is a profile as the API returns it.
type ProfileJSON struct {
	Name      string             `json:"name"`
	UpdatedAt string             `json:"updated_at"`
	YAML      string             `json:"yaml,omitempty"`
	Profile   *csvschema.Profile `json:"profile,omitempty"`
}

// ProfileList is the answer of GET /profiles.
type ProfileList struct {
	Items []ProfileJSON `json:"items"`
}

func profileJSON(sp txpipe.StoredProfile, p *csvschema.Profile) ProfileJSON {
	return ProfileJSON{Name: sp.Name, UpdatedAt: sp.UpdatedAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"), YAML: sp.YAML, Profile: p}
}

func (s *Server) profileName(r *http.Request) (string, error) {
	name := r.PathValue("name")
	if err := profile.CheckName(name); err != nil {
		return "", txpipe.Errorf(txpipe.EINVALID, "%v", err)
	}
	return name, nil
}

func (s *Server) handleProfileList(w http.ResponseWriter, r *http.Request) {
	list, err := s.cfg.Profiles.ListProfiles(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := ProfileList{Items: make([]ProfileJSON, len(list))}
	for i, sp := range list {
		out.Items[i] = profileJSON(sp, nil)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleProfileGet(w http.ResponseWriter, r *http.Request) {
	name, err := s.profileName(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	sp, err := s.cfg.Profiles.GetProfile(r.Context(), name)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	p, err := profile.Parse([]byte(sp.YAML))
	if err != nil {
		p = nil // stored before a rule changed: still shown
	}
	writeJSON(w, http.StatusOK, profileJSON(sp, p))
}

// handleProfilePut stores the YAML body (checked as an upload would use it)
// under the name: 201 when new, 200 when replaced.
func (s *Server) handleProfilePut(w http.ResponseWriter, r *http.Request) {
	name, err := s.profileName(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, profile.MaxBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.writeError(w, r, txpipe.Errorf(txpipe.ETOOLARGE, "a profile is at most %d bytes", profile.MaxBytes))
			return
		}
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "read profile: %v", err))
		return
	}
	p, err := profile.Parse(body)
	if err != nil {
		s.writeError(w, r, txpipe.Errorf(txpipe.EINVALID, "%v", err))
		return
	}
	sp := txpipe.StoredProfile{Name: name, YAML: string(body), UpdatedAt: s.cfg.Now().UTC()}
	created, err := s.cfg.Profiles.PutProfile(r.Context(), sp)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	p.Name = name
	writeJSON(w, status, profileJSON(sp, p))
}

func (s *Server) handleProfileDelete(w http.ResponseWriter, r *http.Request) {
	name, err := s.profileName(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.cfg.Profiles.DeleteProfile(r.Context(), name); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// suggestFor returns a profile skeleton for a rejected upload whose header
// did not match the schema (or its profile), read off the spooled file's
// first rows; "" otherwise.
func suggestFor(up workflow.Upload, errs []txpipe.ErrorItem) string {
	header := false
	for _, e := range errs {
		if strings.HasPrefix(e.Message, csvschema.ErrMissingColumn.Error()) || strings.HasPrefix(e.Message, csvschema.ErrUnknownColumn.Error()) {
			header = true
		}
	}
	if !header || up.File == nil {
		return ""
	}
	if _, err := up.File.Seek(0, io.SeekStart); err != nil {
		return ""
	}
	f := up.Format
	if p := f.Profile; p != nil {
		f.Delimiter, f.Encoding = cmp.Or(f.Delimiter, p.Delimiter), cmp.Or(f.Encoding, p.Encoding)
	}
	f.Profile = nil
	rows, d, err := csvschema.Head(up.File, f, 5)
	if err != nil || len(rows) == 0 {
		return ""
	}
	return profile.SuggestFor(rows, d).YAML()
}
