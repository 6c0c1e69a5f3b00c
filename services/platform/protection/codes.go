package protection

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"runtime"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/argon2"

	"meridian.dev/platform/audit"
	"meridian.dev/platform/auth"
	"meridian.dev/platform/fault"
	"meridian.dev/platform/postgres"
)

// maxCodeLength bounds a code: long enough for a passphrase, short enough
// that nobody mistakes the field for a place to paste a document.
const maxCodeLength = 64

// kdf is a set of argon2id parameters. They are stored beside each hash
// (check_in_codes.params) so that they can be raised later without
// invalidating codes already set: a code is always verified under the
// parameters it was hashed with.
type kdf struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
}

// currentKDF is OWASP's argon2id recommendation (m=19 MiB, t=2, p=1).
var currentKDF = kdf{memory: 19456, time: 2, threads: 1}

const (
	keyLength  = 32
	saltLength = 16
)

// Bounds a stored parameter string must fall within: a corrupted row must
// not make one check-in allocate gigabytes or run for minutes.
const (
	maxKDFMemory  = 1 << 20 // KiB: 1 GiB
	maxKDFTime    = 10
	maxKDFThreads = 16
)

func (k kdf) String() string {
	return fmt.Sprintf("argon2id$v=%d$m=%d,t=%d,p=%d", argon2.Version, k.memory, k.time, k.threads)
}

// parseKDF reads a parameter string written by kdf.String.
func parseKDF(s string) (kdf, error) {
	var version int
	var k kdf
	if _, err := fmt.Sscanf(s, "argon2id$v=%d$m=%d,t=%d,p=%d", &version, &k.memory, &k.time, &k.threads); err != nil {
		return kdf{}, fmt.Errorf("protection: code parameters %q: %w", s, err)
	}
	if version != argon2.Version || k.memory < 8*uint32(k.threads) || k.memory > maxKDFMemory ||
		k.time < 1 || k.time > maxKDFTime || k.threads < 1 || k.threads > maxKDFThreads {
		return kdf{}, fmt.Errorf("protection: code parameters %q are out of bounds", s)
	}
	return k, nil
}

// kdfSlots bounds the derivations running at once: each holds 19 MiB for
// tens of milliseconds, and a burst of check-ins must queue for a core
// rather than allocate without limit.
var kdfSlots = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))

// derive is the one argon2id derivation of a check-in or of setting codes.
// It waits for a slot, so that a burst queues instead of exhausting memory.
func derive(ctx context.Context, k kdf, code string, salt []byte) ([]byte, error) {
	select {
	case kdfSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-kdfSlots }()
	if c, ok := ctx.Value(derivationCounterKey{}).(*atomic.Int64); ok {
		c.Add(1)
	}
	return argon2.IDKey([]byte(code), salt, k.time, k.memory, k.threads, keyLength), nil
}

// derivationCounterKey carries a counter of derivations in a context, so
// that tests can prove every path of a check-in derives exactly once.
type derivationCounterKey struct{}

// matchCodes compares key with both hashes in constant time and without
// an early exit: the time taken says nothing about which one matched, or
// whether either did.
func matchCodes(key, codeHash, duressHash []byte) (ordinary, duress bool) {
	o := subtle.ConstantTimeCompare(key, codeHash)
	d := subtle.ConstantTimeCompare(key, duressHash)
	return o == 1, d == 1
}

// checkCode validates one code as entered when it is set.
func checkCode(field, code string) error {
	if err := fault.CheckText(field, code); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(code); n < MinCodeLength || n > maxCodeLength {
		return fault.Invalid(field, "must be %d-%d characters", MinCodeLength, maxCodeLength)
	}
	return nil
}

// ErrNotInDirectory refuses codes for someone the directory does not know:
// check_in_codes belongs to a person in users.
var ErrNotInDirectory = fault.New(fault.Forbidden, "you are not in the directory: ask an administrator to add you")

// SetCodes stores the caller's check-in and duress codes as argon2id
// hashes under one fresh salt (so that one derivation at check-in checks a
// code against both). Neither the codes nor the hashes ever reach a log or
// the audit log.
func (s *Store) SetCodes(ctx context.Context, actor auth.Identity, code, duressCode string) (time.Time, error) {
	if err := Allow(actor, SetCodes, nil, nil); err != nil {
		return time.Time{}, err
	}
	if err := checkCode("code", code); err != nil {
		return time.Time{}, err
	}
	if err := checkCode("duressCode", duressCode); err != nil {
		return time.Time{}, err
	}
	if code == duressCode {
		return time.Time{}, fault.Invalid("duressCode", "must differ from the check-in code")
	}
	salt := make([]byte, saltLength)
	if _, err := rand.Read(salt); err != nil {
		return time.Time{}, fmt.Errorf("protection: salt: %w", err)
	}
	codeHash, err := derive(ctx, currentKDF, code, salt)
	if err != nil {
		return time.Time{}, err
	}
	duressHash, err := derive(ctx, currentKDF, duressCode, salt)
	if err != nil {
		return time.Time{}, err
	}
	now := s.clock()
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var replaced bool
		if err := tx.QueryRow(ctx, `INSERT INTO check_in_codes (subject, params, salt, code_hash, duress_hash, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (subject) DO UPDATE SET params = EXCLUDED.params, salt = EXCLUDED.salt,
				code_hash = EXCLUDED.code_hash, duress_hash = EXCLUDED.duress_hash, updated_at = EXCLUDED.updated_at
			RETURNING xmax <> 0`, actor.Subject, currentKDF.String(), salt, codeHash, duressHash, now).Scan(&replaced); err != nil {
			if postgres.IsForeignKeyViolation(err) {
				return ErrNotInDirectory
			}
			return fmt.Errorf("protection: set codes: %w", err)
		}
		// The audit row says that the codes changed, never what they are.
		return audit.Record(ctx, tx, audit.Entry{Actor: actor.Subject, Action: "check_in_codes.set", ObjectType: "CheckInCodes",
			ObjectID: actor.Subject, After: map[string]any{"subject": actor.Subject, "replaced": replaced,
				"changed": []string{"code", "duressCode"}, "updatedAt": now}})
	})
	if err != nil {
		return time.Time{}, err
	}
	return now, nil
}
