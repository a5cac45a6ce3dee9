"""Real Kubernetes on lab hosts: the components built from their Go modules
(harness.artifacts) run under each host's supervisord, the way the seeds'
documents set them up. Nothing here is a stand-in.

  pki           the cluster PKI, made with cfssl as easyCerts makes it
  kubeconfig    kubeconfig files for components and users
  control_plane etcd, kube-apiserver, controller-manager, scheduler
  node          containerd, kubelet, kube-proxy (and the images they need)
  network       flanneld and its CNI configuration
  dns           CoreDNS as the cluster DNS, at the cluster DNS IP
  fcio          seed 000 (fcio-k8s) put together from the above
"""
