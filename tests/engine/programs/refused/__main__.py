"""Inputs the real docker provider and Compute Engine refuse, for the stand-ins' Check to refuse too."""

import pulumi_docker as docker
import pulumi_gcp as gcp

docker.Volume("volume", name="_starts-with-an-underscore")
gcp.compute.Disk("disk", zone="europe-west1-b", size=10, project="aurigraph-test", labels={"stack": "Prod-GCP"})
