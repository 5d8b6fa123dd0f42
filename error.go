package txpipe

import (
	"errors"
	"fmt"
)

// Error codes. Adapters translate the failures of what they wrap into these
// kinds; httpapi maps them to HTTP statuses in one table, and the workflow
// retries ETRANSIENT only.
const (
	EINVALID      = "invalid"              // the request or data is invalid
	ENOTFOUND     = "not_found"            // the thing does not exist
	ECONFLICT     = "conflict"             // a conditional write lost (e.g. a finished file moved back)
	EUNAUTHORIZED = "unauthorized"         // no credentials
	EFORBIDDEN    = "forbidden"            // unknown or disabled credentials
	ERATELIMIT    = "rate_limited"         // quota or rate exceeded
	ETOOLARGE     = "too_large"            // body over the limit
	ETRANSIENT    = "transient"            // worth retrying: throttling, timeouts, unavailable services
	EINTERNAL     = "internal"             // anything else
	EREJECTED     = "rejected"             // a file failed validation
	EUNSUPPORTED  = "unsupported"          // unsupported media type or operation
	EUSEUPLOADS   = "use_uploads"          // a body too large for POST /upload: send it with POST /uploads
	ENOSPACE      = "insufficient_storage" // the disk is full; worth retrying once space is freed
)

// Error is an error with a code from the list above. Message is safe to show
// to a user; Err, if set, is the underlying cause.
type Error struct {
	Code    string
	Message string
	Err     error
}

func (e *Error) Error() string {
	switch {
	case e.Message != "" && e.Err != nil:
		return e.Message + ": " + e.Err.Error()
	case e.Message != "":
		return e.Message
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Code
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message. A %w
// verb in format sets Err.
func Errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// Wrap returns err with the given code, keeping it as the cause. It returns
// nil for a nil err.
func Wrap(code string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of err: the message of the
// first *Error in its chain, or a generic text for internal errors.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	if errors.As(err, &e) && e.Err != nil && e.Code != EINTERNAL {
		return e.Err.Error()
	}
	return "internal error"
}

// IsTransient reports whether err is worth retrying: ETRANSIENT, and
// ENOSPACE (a full disk may be freed).
func IsTransient(err error) bool {
	c := ErrorCode(err)
	return c == ETRANSIENT || c == ENOSPACE
}
