package main

// The node plugin: a claim's volume mounted where kubelet asks, with Gluster's FUSE client
// and the other nodes as backup volfile servers. It runs as a service of the node, beside
// kubelet (same mount namespace, so no propagation into a plugin pod is needed), and each
// mount's FUSE process lives in a systemd scope of its own: a restart of the plugin leaves
// the pods' mounts alone.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Mounter is what the node plugin does to the node's mounts.
type Mounter interface {
	IsMounted(target string) (bool, error)
	Mount(source, target string, options []string) error
	Unmount(target string) error
}

type node struct {
	csi.UnimplementedNodeServer
	id      string
	mounter Mounter
}

// glusterMount is the mount a volume context asks for: the first server's volume file, the
// others as backups (a node down at mount time is no failure).
func glusterMount(volumeContext map[string]string, readonly bool) (source string, options []string, err error) {
	servers := strings.Split(volumeContext[contextServers], ",")
	name := volumeContext[contextVolume]
	if name == "" || servers[0] == "" {
		return "", nil, status.Errorf(codes.InvalidArgument, "volume_context: %q and %q are needed (the controller sets them)", contextServers, contextVolume)
	}
	if len(servers) > 1 {
		options = append(options, "backup-volfile-servers="+strings.Join(servers[1:], ":"))
	}
	if readonly {
		options = append(options, "ro")
	}
	return servers[0] + ":/" + name, options, nil
}

func (n *node) NodePublishVolume(ctx context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if target == "" || req.GetVolumeId() == "" {
		return nil, status.Error(codes.InvalidArgument, "target_path and volume_id are needed")
	}
	if req.GetVolumeCapability().GetBlock() != nil {
		return nil, status.Error(codes.InvalidArgument, "volume_capability: block access is not offered")
	}
	source, options, err := glusterMount(req.GetVolumeContext(), req.GetReadonly())
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(target, 0o750); err != nil {
		return nil, status.Errorf(codes.Internal, "making %s: %v", target, err)
	}
	mounted, err := n.mounter.IsMounted(target)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "reading the mounts: %v", err)
	}
	if mounted {
		return &csi.NodePublishVolumeResponse{}, nil
	}
	if err := n.mounter.Mount(source, target, options); err != nil {
		return nil, status.Errorf(codes.Internal, "mounting %s on %s: %v", source, target, err)
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

func (n *node) NodeUnpublishVolume(ctx context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	target := req.GetTargetPath()
	if target == "" {
		return nil, status.Error(codes.InvalidArgument, "target_path is needed")
	}
	mounted, err := n.mounter.IsMounted(target)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "reading the mounts: %v", err)
	}
	if mounted {
		if err := n.mounter.Unmount(target); err != nil {
			return nil, status.Errorf(codes.Internal, "unmounting %s: %v", target, err)
		}
	}
	if err := os.Remove(target); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, status.Errorf(codes.Internal, "removing %s: %v", target, err)
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

func (n *node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: n.id}, nil
}

func (n *node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	// No staging: each pod's mount is its own FUSE client. No node expansion: the quota is
	// the size, seen at once.
	return &csi.NodeGetCapabilitiesResponse{}, nil
}

// mountedAt reads /proc/self/mountinfo: is target a mount point?
func mountedAt(mountinfo io.Reader, target string) (bool, error) {
	scan := bufio.NewScanner(mountinfo)
	scan.Buffer(make([]byte, 64*1024), 1024*1024)
	for scan.Scan() {
		fields := strings.Fields(scan.Text())
		if len(fields) > 4 && unescape(fields[4]) == target {
			return true, nil
		}
	}
	return false, scan.Err()
}

// unescape undoes mountinfo's octal escapes of space, tab, newline and backslash.
func unescape(s string) string {
	r := strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`)
	return r.Replace(s)
}

// systemMounter mounts with mount(8) inside a transient systemd scope, so the FUSE client
// outlives the plugin.
type systemMounter struct{ scope bool }

func (m systemMounter) IsMounted(target string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	return mountedAt(f, target)
}

func (m systemMounter) Mount(source, target string, options []string) error {
	argv := []string{"mount", "-t", "glusterfs"}
	if len(options) > 0 {
		argv = append(argv, "-o", strings.Join(options, ","))
	}
	argv = append(argv, source, target)
	if m.scope {
		argv = append([]string{"systemd-run", "--scope", "--collect", "--quiet", "--"}, argv...)
	}
	return run(argv)
}

func (m systemMounter) Unmount(target string) error { return run([]string{"umount", target}) }

func run(argv []string) error {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
