package fault_test

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"meridian.dev/platform/fault"
)

func TestInvalidNamesTheField(t *testing.T) {
	t.Parallel()
	err := fault.Invalid("latitude", "must be between %d and %d", -90, 90)
	if err.Code != fault.BadUserInput {
		t.Errorf("Code = %s, want BAD_USER_INPUT", err.Code)
	}
	if err.Field != "latitude" {
		t.Errorf("Field = %q, want latitude", err.Field)
	}
	if want := "latitude: must be between -90 and 90"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestCodeOf(t *testing.T) {
	t.Parallel()
	notFound := fault.New(fault.NotFound, "thing not found")
	tests := []struct {
		name string
		err  error
		want fault.Code
	}{
		{"fault", notFound, fault.NotFound},
		{"wrapped once", fmt.Errorf("get: %w", notFound), fault.NotFound},
		{"wrapped twice", fmt.Errorf("resolver: %w", fmt.Errorf("store: %w", fault.Invalid("note", "too long"))), fault.BadUserInput},
		{"joined", errors.Join(io.EOF, fault.New(fault.Conflict, "c")), fault.Conflict},
		{"two %w", fmt.Errorf("%w: %w", fault.New(fault.Unauthenticated, "u"), io.EOF), fault.Unauthenticated},
		{"plain error", io.EOF, fault.Internal},
		{"wrapped plain error", fmt.Errorf("x: %w", io.EOF), fault.Internal},
		{"nil", nil, fault.Internal},
		{"%v loses the fault", fmt.Errorf("x: %v", notFound), fault.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := fault.CodeOf(tt.err); got != tt.want {
				t.Fatalf("CodeOf(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

func TestSentinelsAfterWrapping(t *testing.T) {
	t.Parallel()
	errA := fault.New(fault.Conflict, "already acknowledged")
	errB := fault.New(fault.Conflict, "already resolved")
	wrapped := fmt.Errorf("acknowledge: %w", fmt.Errorf("%w by alice", errA))
	if !errors.Is(wrapped, errA) {
		t.Fatalf("errors.Is(wrapped, errA) = false")
	}
	if errors.Is(wrapped, errB) {
		t.Fatalf("a different sentinel of the same code must not match")
	}
	// A copy with the same code and message is the same kind of error.
	copyA := *errA
	if !errors.Is(&copyA, errA) {
		t.Fatalf("a copy of the sentinel must match it")
	}
	// Fields distinguish faults of the same code and message.
	if errors.Is(&fault.Error{Code: fault.BadUserInput, Message: "bad", Field: "note"},
		&fault.Error{Code: fault.BadUserInput, Message: "bad", Field: "name"}) {
		t.Fatalf("faults naming different fields must not match")
	}
	if !errors.Is(fmt.Errorf("x: %w", fault.Invalid("note", "bad")), fault.Invalid("note", "bad")) {
		t.Fatalf("equal field faults must match through wrapping")
	}
	if errors.Is(errA, io.EOF) {
		t.Fatalf("fault must not match an unrelated error")
	}
	var f *fault.Error
	if !errors.As(wrapped, &f) || f != errA {
		t.Fatalf("errors.As did not find the sentinel itself: %v", f)
	}
}
