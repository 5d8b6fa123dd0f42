package txpipe

import "time"

// StoredProfile is a column-mapping profile as the server stores it: its
// name and YAML text as put (see docs/contract.md, Profiles).
type StoredProfile struct {
	Name      string    `json:"name"`
	YAML      string    `json:"yaml"`
	UpdatedAt time.Time `json:"updated_at"`
}
