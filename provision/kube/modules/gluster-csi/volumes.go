package main

// The lab's Gluster volume service (provision/roles/gluster/volume_service.py), as the
// controller asks it: the StorageClass's resturl, with the user and key of the
// provisioner secret.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// requestTimeout bounds one call: a create waits for glusterd's cluster lock (serialised
// and retried by the service) and for the brick directories on every node.
const requestTimeout = 180 * time.Second

// Volume is the service's account of one claim's volume.
type Volume struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Replica int      `json:"replica"`
	Status  string   `json:"status"`
	Bricks  []string `json:"bricks"`
	SizeGB  int      `json:"size_gb"`
}

// Servers are the Gluster nodes holding the volume's bricks, in brick order, each once:
// the first serves the volume file, the others back it up.
func (v Volume) Servers() []string {
	var out []string
	seen := map[string]bool{}
	for _, b := range v.Bricks {
		host, _, _ := strings.Cut(b, ":")
		if host != "" && !seen[host] {
			seen[host] = true
			out = append(out, host)
		}
	}
	return out
}

// VolumeService is one volume service endpoint and its credentials.
type VolumeService struct {
	URL, User, Key string
	Client         *http.Client
}

func (s VolumeService) call(ctx context.Context, method, path string, body any) (*Volume, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return nil, status.Errorf(codes.Internal, "encoding the request: %v", err)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(s.URL, "/")+path, bytes.NewReader(payload))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "resturl %q: %v", s.URL, err)
	}
	req.SetBasicAuth(s.User, s.Key)
	req.Header.Set("Content-Type", "application/json")
	client := s.Client
	if client == nil {
		client = &http.Client{Timeout: requestTimeout}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "the volume service at %s does not answer: %v", s.URL, err)
	}
	defer resp.Body.Close()
	var answer struct {
		Volume
		Error string `json:"error"`
	}
	decodeErr := json.NewDecoder(resp.Body).Decode(&answer)
	if resp.StatusCode >= 300 {
		why := answer.Error
		if why == "" {
			why = resp.Status
		}
		return nil, status.Errorf(codeOf(resp.StatusCode), "volume service %s %s: %s", method, path, why)
	}
	if method == http.MethodDelete {
		return nil, nil
	}
	if decodeErr != nil {
		return nil, status.Errorf(codes.Internal, "volume service %s %s: unreadable answer: %v", method, path, decodeErr)
	}
	return &answer.Volume, nil
}

// grpcCodes maps the service's HTTP status to the gRPC code the sidecars act on: a refusal
// the claim must change for is final, a node down or a busy lock is retried.
var grpcCodes = map[int]codes.Code{
	http.StatusBadRequest:          codes.InvalidArgument,
	http.StatusUnauthorized:        codes.Unauthenticated,
	http.StatusForbidden:           codes.PermissionDenied,
	http.StatusNotFound:            codes.NotFound,
	http.StatusConflict:            codes.Aborted,
	http.StatusInsufficientStorage: codes.ResourceExhausted,
	http.StatusServiceUnavailable:  codes.Unavailable,
}

func codeOf(httpStatus int) codes.Code {
	if code, ok := grpcCodes[httpStatus]; ok {
		return code
	}
	return codes.Internal
}

// Create makes (or finds, if it exists) the claim's volume.
func (s VolumeService) Create(ctx context.Context, name string, sizeGB int, volumetype string) (*Volume, error) {
	return s.call(ctx, http.MethodPost, "/volumes", map[string]any{"name": name, "size_gb": sizeGB, "volumetype": volumetype})
}

// Grow sets the volume's size (it never shrinks).
func (s VolumeService) Grow(ctx context.Context, name string, sizeGB int) (*Volume, error) {
	return s.call(ctx, http.MethodPut, "/volumes/"+name, map[string]any{"size_gb": sizeGB})
}

// Delete removes the volume and its bricks.
func (s VolumeService) Delete(ctx context.Context, name string) error {
	_, err := s.call(ctx, http.MethodDelete, "/volumes/"+name, nil)
	return err
}

func (s VolumeService) String() string { return fmt.Sprintf("%s as %s", s.URL, s.User) }
