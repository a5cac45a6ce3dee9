"""`harness image build`: the host image of the docker and libvirt provisioners."""
from __future__ import annotations

from harness.lab.progress import Steps, rich_reporter
from provisioners.image import ImageError, apt_mirror, build_docker_image


def cmd_build(args) -> int:
    """`harness image build`: make (or confirm) the host image in the docker engine."""
    import docker

    client = docker.DockerClient(base_url=args.docker_host) if args.docker_host else docker.from_env()
    try:
        mirror = args.mirror or apt_mirror()
        tag = build_docker_image(client, mirror=mirror, steps=Steps(rich_reporter()),
                                 force=args.force)
    except (ImageError, docker.errors.DockerException) as exc:
        raise SystemExit(f"harness: image build failed: {exc}") from None
    print(tag)
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("image", help="the host image of the docker and libvirt provisioners")
    image_sub = p.add_subparsers(dest="image_command", required=True, metavar="ACTION")
    build = image_sub.add_parser("build", help="debootstrap Debian 12 + packages, import into docker")
    build.add_argument("--mirror", help="Debian mirror (default: the one apt uses here)")
    build.add_argument("--docker-host", help="engine address (default: DOCKER_HOST)")
    build.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    build.set_defaults(func=cmd_build)
