package config

import (
	"strings"
	"testing"
)

func TestBool(t *testing.T) {
	t.Setenv("MERIDIAN_TEST_FLAG", "")
	var r Reader
	if !r.Bool("MERIDIAN_TEST_FLAG", true) || r.Bool("MERIDIAN_TEST_FLAG", false) {
		t.Fatal("an unset variable must give the default")
	}
	for v, want := range map[string]bool{"true": true, "1": true, "FALSE": false, "0": false} {
		t.Setenv("MERIDIAN_TEST_FLAG", v)
		if got := r.Bool("MERIDIAN_TEST_FLAG", !want); got != want {
			t.Errorf("%q = %v, want %v", v, got, want)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatalf("valid values reported %v", err)
	}
	// A typo in a security setting must stop the process, not pick a default.
	t.Setenv("MERIDIAN_TEST_FLAG", "yes please")
	if got := r.Bool("MERIDIAN_TEST_FLAG", true); !got {
		t.Error("an invalid value must leave the default")
	}
	if err := r.Err(); err == nil || !strings.Contains(err.Error(), "MERIDIAN_TEST_FLAG") {
		t.Fatalf("Err() = %v, want the variable named", err)
	}
}
