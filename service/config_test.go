package main

import (
	"strings"
	"testing"
)

func TestLoadConfigAppliesDefaultsAndReportsEveryProblem(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		want    config
		wantErr []string
	}{
		{"defaults", map[string]string{"MODE": "stable"}, config{mode: "stable", version: "dev", port: 3000}, nil},
		{"all set", map[string]string{"MODE": "canary", "APP_VERSION": "2.0.1", "APP_PORT": "8081"}, config{mode: "canary", version: "2.0.1", port: 8081}, nil},
		{"mode case matters", map[string]string{"MODE": "Canary"}, config{}, []string{`invalid MODE "Canary"`}},
		{"port zero", map[string]string{"MODE": "stable", "APP_PORT": "0"}, config{}, []string{`invalid APP_PORT "0"`}},
		{"port too high", map[string]string{"MODE": "stable", "APP_PORT": "65536"}, config{}, []string{`invalid APP_PORT "65536"`}},
		{"both wrong", map[string]string{"APP_PORT": "-1"}, config{}, []string{`invalid MODE ""`, `invalid APP_PORT "-1"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := loadConfig(func(k string) string { return c.env[k] })
			if c.wantErr == nil {
				if err != nil || got != c.want {
					t.Errorf("loadConfig = %+v, %v; want %+v", got, err, c.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("loadConfig = %+v, want an error", got)
			}
			for _, want := range c.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}
