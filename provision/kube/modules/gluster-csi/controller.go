package main

// The controller: a claim's volume made, grown and removed through the volume service, as
// Heketi did for the documents' StorageClass. csi-provisioner and csi-resizer call it.

import (
	"context"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const gib = int64(1) << 30

// Keys of the StorageClass's parameters and of its provisioner secret.
const (
	paramRestURL    = "resturl"
	paramVolumeType = "volumetype"
	secretUser      = "user"
	secretKey       = "key"
	// contextServers and contextVolume tell the node plugin what to mount.
	contextServers = "servers"
	contextVolume  = "volume"
)

type controller struct {
	csi.UnimplementedControllerServer
}

// volumeID carries the service that made the volume: delete and expand are given no
// StorageClass parameters, only the ID and the secret.
func volumeID(name, restURL string) string { return name + "@" + restURL }

func parseVolumeID(id string) (name, restURL string, err error) {
	name, restURL, ok := strings.Cut(id, "@")
	if !ok || name == "" || restURL == "" {
		return "", "", status.Errorf(codes.NotFound, "volume ID %q is not one of this driver's (NAME@RESTURL)", id)
	}
	return name, restURL, nil
}

func service(restURL string, secrets map[string]string) (VolumeService, error) {
	user, key := secrets[secretUser], secrets[secretKey]
	if user == "" || key == "" {
		return VolumeService{}, status.Errorf(codes.Unauthenticated,
			"no %q and %q in the provisioner secret: give the StorageClass csi.storage.k8s.io/provisioner-secret-name "+
				"(and the controller-expand secret) naming the volume service's credentials", secretUser, secretKey)
	}
	return VolumeService{URL: restURL, User: user, Key: key}, nil
}

// sizeGB rounds a capacity range up to whole GiB (the service's unit), at least 1.
func sizeGB(r *csi.CapacityRange) (int, error) {
	want := r.GetRequiredBytes()
	if want < gib {
		want = gib
	}
	size := (want + gib - 1) / gib
	if limit := r.GetLimitBytes(); limit > 0 && size*gib > limit {
		return 0, status.Errorf(codes.OutOfRange, "capacity: %d bytes rounded up to whole GiB (%d GiB) exceed the limit of %d bytes", want, size, limit)
	}
	return int(size), nil
}

// sized is the service a create or an expand calls, and the size it asks for.
func sized(restURL string, r *csi.CapacityRange, secrets map[string]string) (VolumeService, int, error) {
	size, err := sizeGB(r)
	if err != nil {
		return VolumeService{}, 0, err
	}
	svc, err := service(restURL, secrets)
	return svc, size, err
}

func checkCapabilities(caps []*csi.VolumeCapability) error {
	if len(caps) == 0 {
		return status.Error(codes.InvalidArgument, "volume_capabilities: none given")
	}
	for _, c := range caps {
		if c.GetBlock() != nil {
			return status.Error(codes.InvalidArgument, "volume_capabilities: block access is not offered: Gluster volumes are mounted as file systems")
		}
	}
	return nil
}

func (c *controller) CreateVolume(ctx context.Context, req *csi.CreateVolumeRequest) (*csi.CreateVolumeResponse, error) {
	if req.GetName() == "" {
		return nil, status.Error(codes.InvalidArgument, "name: empty")
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return nil, err
	}
	params := req.GetParameters()
	restURL := params[paramRestURL]
	if restURL == "" {
		return nil, status.Errorf(codes.InvalidArgument, "StorageClass parameter %q: missing; give the volume service's URL, as the documents' resturl", paramRestURL)
	}
	svc, size, err := sized(restURL, req.GetCapacityRange(), req.GetSecrets())
	if err != nil {
		return nil, err
	}
	// The service refuses any volumetype but the one it makes, and says so: that text
	// reaches the claim's events.
	vol, err := svc.Create(ctx, req.GetName(), size, params[paramVolumeType])
	if err != nil {
		return nil, err
	}
	servers := vol.Servers()
	if len(servers) == 0 {
		return nil, status.Errorf(codes.Internal, "volume %s was made with no bricks", vol.Name)
	}
	got := int64(vol.SizeGB) * gib
	if got == 0 {
		got = int64(size) * gib
	}
	return &csi.CreateVolumeResponse{Volume: &csi.Volume{
		VolumeId:      volumeID(vol.Name, restURL),
		CapacityBytes: got,
		VolumeContext: map[string]string{contextServers: strings.Join(servers, ","), contextVolume: vol.Name},
	}}, nil
}

func (c *controller) DeleteVolume(ctx context.Context, req *csi.DeleteVolumeRequest) (*csi.DeleteVolumeResponse, error) {
	name, restURL, err := parseVolumeID(req.GetVolumeId())
	if err != nil {
		return &csi.DeleteVolumeResponse{}, nil // not ours, so nothing of ours to remove
	}
	svc, err := service(restURL, req.GetSecrets())
	if err != nil {
		return nil, err
	}
	if err := svc.Delete(ctx, name); err != nil && status.Code(err) != codes.NotFound {
		return nil, err
	}
	return &csi.DeleteVolumeResponse{}, nil
}

func (c *controller) ControllerExpandVolume(ctx context.Context, req *csi.ControllerExpandVolumeRequest) (*csi.ControllerExpandVolumeResponse, error) {
	name, restURL, err := parseVolumeID(req.GetVolumeId())
	if err != nil {
		return nil, err
	}
	svc, size, err := sized(restURL, req.GetCapacityRange(), req.GetSecrets())
	if err != nil {
		return nil, err
	}
	vol, err := svc.Grow(ctx, name, size)
	if err != nil {
		return nil, err
	}
	// The quota is the size, and a FUSE mount sees it at once: nothing to do on the node.
	return &csi.ControllerExpandVolumeResponse{CapacityBytes: int64(vol.SizeGB) * gib, NodeExpansionRequired: false}, nil
}

func (c *controller) ValidateVolumeCapabilities(ctx context.Context, req *csi.ValidateVolumeCapabilitiesRequest) (*csi.ValidateVolumeCapabilitiesResponse, error) {
	if _, _, err := parseVolumeID(req.GetVolumeId()); err != nil {
		return nil, err
	}
	if err := checkCapabilities(req.GetVolumeCapabilities()); err != nil {
		return &csi.ValidateVolumeCapabilitiesResponse{Message: err.Error()}, nil
	}
	return &csi.ValidateVolumeCapabilitiesResponse{Confirmed: &csi.ValidateVolumeCapabilitiesResponse_Confirmed{
		VolumeCapabilities: req.GetVolumeCapabilities(), VolumeContext: req.GetVolumeContext(), Parameters: req.GetParameters(),
	}}, nil
}

func (c *controller) ControllerGetCapabilities(context.Context, *csi.ControllerGetCapabilitiesRequest) (*csi.ControllerGetCapabilitiesResponse, error) {
	var caps []*csi.ControllerServiceCapability
	for _, t := range []csi.ControllerServiceCapability_RPC_Type{
		csi.ControllerServiceCapability_RPC_CREATE_DELETE_VOLUME, csi.ControllerServiceCapability_RPC_EXPAND_VOLUME,
	} {
		caps = append(caps, &csi.ControllerServiceCapability{Type: &csi.ControllerServiceCapability_Rpc{
			Rpc: &csi.ControllerServiceCapability_RPC{Type: t}}})
	}
	return &csi.ControllerGetCapabilitiesResponse{Capabilities: caps}, nil
}
