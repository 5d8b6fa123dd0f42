package workflow

import (
	"context"
	"fmt"
	"strings"

	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/csvschema"
	"github.com/txpipe/txpipe/profile"
)

// ProfileGetter reads a stored column-mapping profile by name (the data
// dir's database locally, the files bucket on AWS).
type ProfileGetter interface {
	// GetProfile returns the profile, or an ENOTFOUND error.
	GetProfile(ctx context.Context, name string) (txpipe.StoredProfile, error)
}

// ResolveFormat returns the format d declares, with the profile it names
// read from profiles and parsed (as stored now: a run keeps the profile it
// was started with). A wrong value (an unknown delimiter or encoding, no
// profile of that name, a stored profile that no longer parses) is an
// EINVALID error that says which; a store's failure is returned wrapped.
func ResolveFormat(ctx context.Context, profiles ProfileGetter, d txpipe.DeclaredFormat) (csvschema.Format, error) {
	f := csvschema.Format{Delimiter: d.Delimiter, Encoding: d.Encoding, Sheet: d.Sheet}
	if name := d.Profile; name != "" {
		p, err := loadProfile(ctx, profiles, name)
		if err != nil {
			return f, err
		}
		f.Profile = p
	}
	if err := f.Check(); err != nil {
		return f, txpipe.Errorf(txpipe.EINVALID, "%s", FormatMessage(err))
	}
	return f, nil
}

func loadProfile(ctx context.Context, profiles ProfileGetter, name string) (*csvschema.Profile, error) {
	if profiles == nil {
		return nil, txpipe.Errorf(txpipe.EUNSUPPORTED, "this server stores no profiles")
	}
	if err := profile.CheckName(name); err != nil {
		return nil, txpipe.Errorf(txpipe.EINVALID, "profile: %v", err)
	}
	sp, err := profiles.GetProfile(ctx, name)
	if txpipe.ErrorCode(err) == txpipe.ENOTFOUND {
		return nil, txpipe.Errorf(txpipe.EINVALID, "no profile named %q: GET /profiles lists them (txpipe profile list)", name)
	}
	if err != nil {
		return nil, fmt.Errorf("get profile %q: %w", name, err)
	}
	p, err := profile.Parse([]byte(sp.YAML))
	if err != nil {
		return nil, txpipe.Errorf(txpipe.EINVALID, "stored profile %q: %v", name, err)
	}
	p.Name = name
	return p, nil
}

// FormatMessage is the message of a csvschema.ErrFormat error, without the
// sentinel's prefix.
func FormatMessage(err error) string {
	return strings.TrimPrefix(err.Error(), csvschema.ErrFormat.Error()+": ")
}
