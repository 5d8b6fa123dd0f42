package dynamo

import (
	"github.com/txpipe/txpipe"
	"github.com/txpipe/txpipe/internal/awserr"
)

// codes maps DynamoDB API error codes to txpipe kinds: a failed condition is
// a conflict, a missing table is not found, throttling is transient. Server
// faults, 5xx and 429 responses, timeouts and network errors are transient
// for every service (awserr.Kind).
var codes = awserr.Codes{
	"ConditionalCheckFailedException":        txpipe.ECONFLICT,
	"TransactionConflictException":           txpipe.ECONFLICT,
	"ResourceNotFoundException":              txpipe.ENOTFOUND,
	"ValidationException":                    txpipe.EINVALID,
	"SerializationException":                 txpipe.EINVALID,
	"ProvisionedThroughputExceededException": txpipe.ETRANSIENT,
	"ThrottlingException":                    txpipe.ETRANSIENT,
	"RequestLimitExceeded":                   txpipe.ETRANSIENT,
	"LimitExceededException":                 txpipe.ETRANSIENT,
	"InternalServerError":                    txpipe.ETRANSIENT,
	"ServiceUnavailable":                     txpipe.ETRANSIENT,
	"TransactionInProgressException":         txpipe.ETRANSIENT,
}

// kindOf returns the txpipe error code for an SDK error.
func kindOf(err error) string { return awserr.Kind(err, codes) }

// translate wraps an SDK error in a *txpipe.Error of its kind, with what
// the adapter was doing as the message.
func translate(err error, format string, args ...any) error {
	return awserr.Translate(err, codes, format, args...)
}
