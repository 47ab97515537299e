package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

var secrets = map[string]string{secretUser: "admin", secretKey: "s3cret"}

// fakeService answers as the volume service does, refusing wrong credentials and any
// volumetype but replicate:3; it records what it was asked.
type fakeService struct {
	*httptest.Server
	asked []string
	sizes map[string]int
}

func newFakeService(t *testing.T) *fakeService {
	f := &fakeService{sizes: map[string]int{}}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.asked = append(f.asked, r.Method+" "+r.URL.Path)
		refuse := func(code int, why string) {
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": why})
		}
		if user, key, ok := r.BasicAuth(); !ok || user != "admin" || key != "s3cret" {
			refuse(http.StatusUnauthorized, "authentication required")
			return
		}
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		name := strings.TrimPrefix(r.URL.Path, "/volumes/")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/volumes":
			if body["volumetype"] != "replicate:3" {
				refuse(http.StatusBadRequest, "volumetype: not served here; this lab makes 'replicate:3' volumes only")
				return
			}
			name = body["name"].(string)
			f.sizes[name] = int(body["size_gb"].(float64))
		case r.Method == http.MethodPut:
			if _, ok := f.sizes[name]; !ok {
				refuse(http.StatusNotFound, "no volume "+name)
				return
			}
			f.sizes[name] = int(body["size_gb"].(float64))
		case r.Method == http.MethodDelete:
			if _, ok := f.sizes[name]; !ok {
				refuse(http.StatusNotFound, "no volume "+name)
				return
			}
			delete(f.sizes, name)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_ = json.NewEncoder(w).Encode(Volume{Name: name, Type: "Replicate", Replica: 3, Status: "Started", SizeGB: f.sizes[name],
			Bricks: []string{"g1:/data/b/" + name + "/brick", "g2:/data/b/" + name + "/brick", "g3:/data/b/" + name + "/brick"}})
	}))
	t.Cleanup(f.Close)
	return f
}

func mountCapability() []*csi.VolumeCapability {
	return []*csi.VolumeCapability{{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}},
		AccessMode: &csi.VolumeCapability_AccessMode{Mode: csi.VolumeCapability_AccessMode_MULTI_NODE_MULTI_WRITER}}}
}

func create(t *testing.T, f *fakeService, volumetype string, bytes int64, creds map[string]string) (*csi.CreateVolumeResponse, error) {
	t.Helper()
	return (&controller{}).CreateVolume(context.Background(), &csi.CreateVolumeRequest{
		Name: "pvc-0a1b2c3d-0000-4000-8000-000000000001", CapacityRange: &csi.CapacityRange{RequiredBytes: bytes},
		VolumeCapabilities: mountCapability(), Secrets: creds,
		Parameters: map[string]string{paramRestURL: f.URL, paramVolumeType: volumetype},
	})
}

func TestCreateMakesAReplicaVolumeOfWholeGiBAndSaysWhereToMountIt(t *testing.T) {
	f := newFakeService(t)
	resp, err := create(t, f, "replicate:3", 1536<<20, secrets) // 1.5 GiB
	if err != nil {
		t.Fatal(err)
	}
	v := resp.GetVolume()
	if v.GetCapacityBytes() != 2*gib || f.sizes["pvc-0a1b2c3d-0000-4000-8000-000000000001"] != 2 {
		t.Errorf("1.5 GiB asked: want 2 GiB made, got %d bytes, service sizes %v", v.GetCapacityBytes(), f.sizes)
	}
	if v.GetVolumeContext()[contextServers] != "g1,g2,g3" || v.GetVolumeContext()[contextVolume] != "pvc-0a1b2c3d-0000-4000-8000-000000000001" {
		t.Errorf("volume context %v", v.GetVolumeContext())
	}
	if name, url, err := parseVolumeID(v.GetVolumeId()); err != nil || url != f.URL || name != "pvc-0a1b2c3d-0000-4000-8000-000000000001" {
		t.Errorf("volume ID %q does not carry the name and the service", v.GetVolumeId())
	}
}

func TestCreateRefusalsReachTheClaimWithTheServicesReason(t *testing.T) {
	f := newFakeService(t)
	_, err := create(t, f, "replicate:2", gib, secrets)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "replicate:3") {
		t.Errorf("volumetype replicate:2: want InvalidArgument naming replicate:3, got %v", err)
	}
	_, err = create(t, f, "replicate:3", gib, map[string]string{secretUser: "admin", secretKey: "admin"})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("wrong key: want Unauthenticated, got %v", err)
	}
	_, err = create(t, f, "replicate:3", gib, nil)
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(err.Error(), "provisioner-secret-name") {
		t.Errorf("no secret: want Unauthenticated naming the StorageClass setting, got %v", err)
	}
	if len(f.sizes) != 0 {
		t.Errorf("refused claims made volumes: %v", f.sizes)
	}
	// the positive control: the same request with the right type and key is served
	if _, err := create(t, f, "replicate:3", gib, secrets); err != nil {
		t.Errorf("a valid claim was refused: %v", err)
	}
}

func TestExpandGrowsAndDeleteRemovesOnceAndForAll(t *testing.T) {
	f := newFakeService(t)
	resp, err := create(t, f, "replicate:3", gib, secrets)
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetVolume().GetVolumeId()
	c := &controller{}
	grown, err := c.ControllerExpandVolume(context.Background(), &csi.ControllerExpandVolumeRequest{
		VolumeId: id, CapacityRange: &csi.CapacityRange{RequiredBytes: 3 * gib}, Secrets: secrets})
	if err != nil || grown.GetCapacityBytes() != 3*gib || grown.GetNodeExpansionRequired() {
		t.Errorf("expand to 3 GiB: %v, %v", grown, err)
	}
	for i := 0; i < 2; i++ { // a second delete (a retry) finds nothing and succeeds
		if _, err := c.DeleteVolume(context.Background(), &csi.DeleteVolumeRequest{VolumeId: id, Secrets: secrets}); err != nil {
			t.Errorf("delete %d: %v", i+1, err)
		}
	}
	if len(f.sizes) != 0 || strings.Count(strings.Join(f.asked, ";"), "DELETE") != 2 {
		t.Errorf("after delete: volumes %v, asked %v", f.sizes, f.asked)
	}
}

type fakeMounter struct {
	mounted map[string]string
	calls   []string
}

func (m *fakeMounter) IsMounted(target string) (bool, error) {
	_, ok := m.mounted[target]
	return ok, nil
}
func (m *fakeMounter) Mount(source, target string, options []string) error {
	m.calls = append(m.calls, "mount "+source+" "+strings.Join(options, ","))
	m.mounted[target] = source
	return nil
}
func (m *fakeMounter) Unmount(target string) error {
	m.calls = append(m.calls, "umount")
	delete(m.mounted, target)
	return nil
}

func TestPublishMountsWithBackupServersOnceAndUnpublishUndoesIt(t *testing.T) {
	m := &fakeMounter{mounted: map[string]string{}}
	n := &node{id: "kube-node01", mounter: m}
	target := filepath.Join(t.TempDir(), "mount")
	req := &csi.NodePublishVolumeRequest{VolumeId: "pvc-x@http://g1:8080", TargetPath: target, VolumeCapability: mountCapability()[0],
		VolumeContext: map[string]string{contextServers: "g1,g2,g3", contextVolume: "pvc-x"}}
	for i := 0; i < 2; i++ { // kubelet retries: the second finds it mounted
		if _, err := n.NodePublishVolume(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(m.calls, ";") != "mount g1:/pvc-x backup-volfile-servers=g2:g3" {
		t.Errorf("mounts: %v", m.calls)
	}
	req.Readonly = true
	req.TargetPath = target + "-ro"
	if _, err := n.NodePublishVolume(context.Background(), req); err != nil || !strings.HasSuffix(m.calls[len(m.calls)-1], ",ro") {
		t.Errorf("read-only publish: %v, %v", m.calls, err)
	}
	for i := 0; i < 2; i++ {
		if _, err := n.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: "pvc-x@http://g1:8080", TargetPath: target}); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Count(strings.Join(m.calls, ";"), "umount") != 1 {
		t.Errorf("unmounts: %v", m.calls)
	}
	if _, err := n.NodePublishVolume(context.Background(), &csi.NodePublishVolumeRequest{VolumeId: "v", TargetPath: target,
		VolumeCapability: mountCapability()[0]}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no volume context: want InvalidArgument, got %v", err)
	}
}

func TestMountinfoFindsATargetWithASpace(t *testing.T) {
	info := "36 35 98:0 / /mnt/a\\040b rw,noatime master:1 - ext3 /dev/root rw\n" +
		"37 35 0:44 / /var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/pv/mount rw - fuse.glusterfs g1:/pvc-x rw\n"
	for target, want := range map[string]bool{"/mnt/a b": true, "/var/lib/kubelet/pods/u/volumes/kubernetes.io~csi/pv/mount": true, "/mnt/a": false} {
		if got, err := mountedAt(strings.NewReader(info), target); err != nil || got != want {
			t.Errorf("%s: mounted %v, want %v (%v)", target, got, want, err)
		}
	}
}

func TestRegistrationAnswersKubeletOverItsSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "reg.sock")
	l, err := listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	registerapi.RegisterRegistrationServer(s, registration{name: "gluster.kube.local", endpoint: "/var/lib/kubelet/plugins/x/csi.sock"})
	go func() { _ = s.Serve(l) }()
	defer s.Stop()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	info, err := registerapi.NewRegistrationClient(conn).GetInfo(context.Background(), &registerapi.InfoRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetType() != registerapi.CSIPlugin || info.GetName() != "gluster.kube.local" || info.GetEndpoint() != "/var/lib/kubelet/plugins/x/csi.sock" {
		t.Errorf("GetInfo: %v", info)
	}
}
