"""Build and run leafline's image on a development machine: `make image`, `make test-image`, `leafline image`.

docker when a daemon answers, else Debian's podman with its configuration kept in a work folder (never
/etc/containers), a Debian base image synthesized with debootstrap when no registry is reachable, and the
container run as SageMaker runs it. None of this is in the image.
"""
