// gluster-csi: the lab's CSI driver for Gluster volumes of type Replicate, one per claim, as
// the documents' Heketi made them for their StorageClass.
//
//	gluster-csi --mode=controller --driver-name=NAME --endpoint=/run/gluster-csi/csi.sock
//	gluster-csi --mode=node --driver-name=NAME --endpoint=/var/lib/kubelet/plugins/NAME/csi.sock
//
// The controller serves csi-provisioner and csi-resizer; the node plugin serves kubelet and
// registers itself with kubelet's plugin watcher (no registrar sidecar).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"
)

var version = "dev"

// identity names the driver: the StorageClass's provisioner (the plan's).
type identity struct {
	name       string
	controller bool
}

func (i identity) GetPluginInfo(context.Context, *csi.GetPluginInfoRequest) (*csi.GetPluginInfoResponse, error) {
	return &csi.GetPluginInfoResponse{Name: i.name, VendorVersion: version}, nil
}

func (i identity) GetPluginCapabilities(context.Context, *csi.GetPluginCapabilitiesRequest) (*csi.GetPluginCapabilitiesResponse, error) {
	caps := []*csi.PluginCapability{{Type: &csi.PluginCapability_VolumeExpansion_{
		VolumeExpansion: &csi.PluginCapability_VolumeExpansion{Type: csi.PluginCapability_VolumeExpansion_ONLINE}}}}
	if i.controller {
		caps = append(caps, &csi.PluginCapability{Type: &csi.PluginCapability_Service_{
			Service: &csi.PluginCapability_Service{Type: csi.PluginCapability_Service_CONTROLLER_SERVICE}}})
	}
	return &csi.GetPluginCapabilitiesResponse{Capabilities: caps}, nil
}

func (i identity) Probe(context.Context, *csi.ProbeRequest) (*csi.ProbeResponse, error) {
	return &csi.ProbeResponse{}, nil
}

// registration answers kubelet's plugin watcher for the node plugin's socket.
type registration struct {
	registerapi.UnimplementedRegistrationServer
	name, endpoint string
}

func (r registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{Type: registerapi.CSIPlugin, Name: r.name, Endpoint: r.endpoint,
		SupportedVersions: []string{"1.0.0"}}, nil
}

func (r registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !s.PluginRegistered {
		log.Printf("kubelet refused the registration: %s", s.Error)
	} else {
		log.Printf("registered with kubelet")
	}
	return &registerapi.RegistrationStatusResponse{}, nil
}

// listen opens a unix socket, replacing one a previous run left.
func listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return net.Listen("unix", path)
}

func serve(servers map[string]*grpc.Server) error {
	errs := make(chan error, len(servers))
	for path, s := range servers {
		l, err := listen(path)
		if err != nil {
			return fmt.Errorf("listening on %s: %w", path, err)
		}
		go func(s *grpc.Server, l net.Listener) { errs <- s.Serve(l) }(s, l)
		log.Printf("serving on %s", path)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case sig := <-stop:
		log.Printf("%s: stopping", sig)
		for _, s := range servers {
			s.GracefulStop()
		}
		return nil
	case err := <-errs:
		return err
	}
}

func main() {
	mode := flag.String("mode", "", "controller or node")
	name := flag.String("driver-name", "", "the driver's name: the StorageClass's provisioner")
	endpoint := flag.String("endpoint", "", "the CSI socket to serve")
	registry := flag.String("registration-dir", "/var/lib/kubelet/plugins_registry", "kubelet's plugin watcher directory (node mode)")
	nodeID := flag.String("node-id", "", "this node's name as Kubernetes knows it (node mode; default: the host name)")
	scope := flag.Bool("mount-scope", true, "mount inside a systemd scope, so mounts outlive the plugin (node mode)")
	flag.Parse()
	if *endpoint == "" || *name == "" {
		log.Fatal("--endpoint and --driver-name: give the CSI socket's path and the StorageClass's provisioner")
	}
	servers := map[string]*grpc.Server{*endpoint: grpc.NewServer()}
	csiServer := servers[*endpoint]
	switch *mode {
	case "controller":
		csi.RegisterIdentityServer(csiServer, identity{name: *name, controller: true})
		csi.RegisterControllerServer(csiServer, &controller{})
	case "node":
		id := *nodeID
		if id == "" {
			host, err := os.Hostname()
			if err != nil {
				log.Fatalf("--node-id: not given and no host name: %v", err)
			}
			id = host
		}
		csi.RegisterIdentityServer(csiServer, identity{name: *name})
		csi.RegisterNodeServer(csiServer, &node{id: id, mounter: systemMounter{scope: *scope}})
		reg := grpc.NewServer()
		registerapi.RegisterRegistrationServer(reg, registration{name: *name, endpoint: *endpoint})
		servers[filepath.Join(*registry, *name+"-reg.sock")] = reg
	default:
		log.Fatalf("--mode %q: give controller or node", *mode)
	}
	if err := serve(servers); err != nil {
		log.Fatal(err)
	}
}
