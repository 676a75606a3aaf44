package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"
)

// maxSlowSeconds caps chaos slow mode. It stays below the server's WriteTimeout, so
// the app itself always answers; it equals nginx's default proxy timeout, so the
// longest delay through nginx with the shipped manifest ends as nginx's JSON 504.
const maxSlowSeconds = 30

// maxChaosBody is the largest /chaos body accepted; a valid one is a few dozen bytes.
const maxChaosBody = 1 << 10

// chaosMode values double as the chaos_active gauge value.
type chaosMode int

const (
	chaosNone chaosMode = iota
	chaosSlow
	chaosError
)

// chaosSetting is one complete chaos state; it is replaced as a whole, never mutated.
type chaosSetting struct {
	mode     chaosMode
	duration float64 // seconds, slow mode only
	rate     float64 // fraction of requests failed, error mode only
}

// chaosView is the JSON form of a chaosSetting.
type chaosView struct {
	Mode     string   `json:"mode"`
	Duration *float64 `json:"duration,omitempty"`
	Rate     *float64 `json:"rate,omitempty"`
}

func (s chaosSetting) view() chaosView {
	switch s.mode {
	case chaosSlow:
		return chaosView{Mode: "slow", Duration: &s.duration}
	case chaosError:
		return chaosView{Mode: "error", Rate: &s.rate}
	}
	return chaosView{Mode: "none"}
}

// chaosState is read on every application request, so it is an atomic pointer
// rather than a mutex.
type chaosState struct {
	cur atomic.Pointer[chaosSetting]
}

func newChaosState() *chaosState {
	s := &chaosState{}
	s.set(chaosSetting{})
	return s
}

func (s *chaosState) get() chaosSetting     { return *s.cur.Load() }
func (s *chaosState) set(next chaosSetting) { s.cur.Store(&next) }

// shouldFail draws whether this request is one of the injected failures.
// rand.Float64 is in [0, 1), so rate 1 fails every request and rate 0 none.
func (s chaosSetting) shouldFail() bool {
	return s.mode == chaosError && rand.Float64() < s.rate
}

// parseChaos validates a /chaos body strictly and reports every problem it finds.
func parseChaos(body []byte) (chaosSetting, error) {
	fields, err := decodeObject(body)
	if err != nil {
		return chaosSetting{}, err
	}
	raw, ok := fields["mode"]
	if !ok {
		return chaosSetting{}, errors.New(`missing field "mode": want "slow", "error" or "recover"`)
	}
	var mode string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &mode) != nil {
		return chaosSetting{}, errors.New("mode must be a string")
	}
	switch mode {
	case "slow":
		d, err := numberField(fields, "duration")
		if err == nil && !(d > 0 && d <= maxSlowSeconds) {
			err = fmt.Errorf("duration must be greater than 0 and at most %d seconds (the slow-mode cap), got %s", maxSlowSeconds, fields["duration"])
		}
		return chaosSetting{mode: chaosSlow, duration: d}, errors.Join(err, unknownFields(fields, mode, "mode", "duration"))
	case "error":
		r, err := numberField(fields, "rate")
		if err == nil && !(r >= 0 && r <= 1) {
			err = fmt.Errorf("rate must be from 0 to 1, got %s", fields["rate"])
		}
		return chaosSetting{mode: chaosError, rate: r}, errors.Join(err, unknownFields(fields, mode, "mode", "rate"))
	case "recover":
		return chaosSetting{}, unknownFields(fields, mode, "mode")
	}
	return chaosSetting{}, fmt.Errorf(`unknown mode %q: want "slow", "error" or "recover"`, mode)
}

// decodeObject decodes exactly one JSON object and nothing after it.
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New(`request body is empty: send a JSON object such as {"mode":"recover"}`)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var fields map[string]json.RawMessage
	if err := dec.Decode(&fields); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, errors.New("request body must be a JSON object")
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if fields == nil { // the body was the literal null
		return nil, errors.New("request body must be a JSON object")
	}
	var extra json.RawMessage
	if err := dec.Decode(&extra); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON object")
	}
	return fields, nil
}

// numberField reads a required numeric field. An exponent too large for a float64
// gives ±Inf, which every range check then rejects with the value as written.
func numberField(fields map[string]json.RawMessage, name string) (float64, error) {
	raw, ok := fields[name]
	if !ok {
		return 0, fmt.Errorf("missing field %q", name)
	}
	// The decoder has already checked the syntax, so a leading '-' or digit means a JSON number.
	if len(raw) == 0 || (raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return 0, fmt.Errorf("%s must be a number", name)
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s must be a number", name)
	}
	return v, nil
}

// unknownFields names every field that the given mode does not take.
func unknownFields(fields map[string]json.RawMessage, mode string, allowed ...string) error {
	var problems []error
	for _, name := range slices.Sorted(maps.Keys(fields)) {
		if !slices.Contains(allowed, name) {
			problems = append(problems, fmt.Errorf("unknown field %q for mode %q", name, mode))
		}
	}
	return errors.Join(problems...)
}
