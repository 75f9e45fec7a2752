"""The one module that talks to a registry's HTTP API (Docker Registry HTTP API v2).

Connection errors and unexpected statuses become labkit errors here; callers get
plain values: a digest or None, a list of tags, a list of repositories.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import requests

from ..errors import RegistryUnreachable, outside_errors, registry_status
from .names import architecture

#: Without these Accept types a registry answers with a schema-1 manifest, whose
#: digest is not the one the engine records in RepoDigests.
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)


class RegistryClient:
    """A small client for one registry: ping, manifests, tags list, catalog, copying blobs."""

    def __init__(self, address: str, auth: tuple[str, str] | None = None, timeout: float = 10.0) -> None:
        self.address = address
        self.url = f"http://{address}"
        self.timeout = timeout
        self._session = requests.Session()
        self._session.auth = auth
        self._session.trust_env = False  # loopback registries: never through a proxy

    def close(self) -> None:
        self._session.close()

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        with outside_errors("registry", url=self.url):
            return self._session.request(method, self.url + path, timeout=self.timeout, **kwargs)

    def _ok(self, response: requests.Response) -> requests.Response:
        error = registry_status(
            self.url, response.status_code, f"{response.request.method} {response.request.path_url}"
        )
        if error is not None:
            raise error
        return response

    def ping(self) -> int:
        """The status of GET /v2/: 200 for an open registry, 401 where a login is needed."""
        return self._request("GET", "/v2/").status_code

    def is_up(self) -> bool:
        try:
            return self.ping() in (200, 401)
        except RegistryUnreachable:
            return False

    def manifest_digest(self, repo: str, tag: str) -> str | None:
        """The `Docker-Content-Digest` of repo:tag, or None when the registry has no such tag."""
        response = self._request("HEAD", f"/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES})
        if response.status_code == 404:
            return None
        return self._ok(response).headers.get("Docker-Content-Digest")

    def tags(self, repo: str) -> list[str]:
        response = self._request("GET", f"/v2/{repo}/tags/list")
        if response.status_code == 404:
            return []
        return sorted(self._ok(response).json().get("tags") or [])

    def delete_tag(self, repo: str, tag: str) -> bool:
        """Delete the manifest `repo:tag` points to (registries delete by digest). False if there was none."""
        digest = self.manifest_digest(repo, tag)
        if digest is None:
            return False
        response = self._request("DELETE", f"/v2/{repo}/manifests/{digest}")
        if response.status_code == 404:
            return False
        self._ok(response)
        return True

    def catalog(self) -> list[str]:
        answer = self._ok(self._request("GET", "/v2/_catalog", params={"n": 1000})).json()
        return sorted(answer.get("repositories") or [])

    def manifest(self, repo: str, reference: str) -> dict | None:
        """The manifest (or manifest list) repo:reference, as JSON; None when there is none."""
        response = self._request("GET", f"/v2/{repo}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES})
        if response.status_code == 404:
            return None
        return self._ok(response).json()

    def blob(self, repo: str, digest: str) -> bytes:
        return self._ok(self._request("GET", f"/v2/{repo}/blobs/{digest}")).content

    def push_blob(self, repo: str, digest: str, data: bytes) -> None:
        """Upload one blob into repo (a monolithic upload: POST, then PUT with its digest)."""
        started = self._ok(self._request("POST", f"/v2/{repo}/blobs/uploads/"))
        self._ok(
            self._request(
                "PUT",
                _path(started.headers["Location"]),
                params={"digest": digest},
                data=data,
                headers={"Content-Type": "application/octet-stream"},
            )
        )

    def mount_blob(self, repo: str, digest: str, source: str) -> bool:
        """Link a blob the registry holds in `source` into `repo` too, without uploading it (a
        cross-repository mount). False when the registry started an upload instead (it is cancelled)."""
        response = self._ok(
            self._request("POST", f"/v2/{repo}/blobs/uploads/", params={"mount": digest, "from": source})
        )
        if response.status_code == 201:
            return True
        if "Location" in response.headers:
            self._request("DELETE", _path(response.headers["Location"]))
        return False

    def platform_manifest(self, repo: str, reference: str) -> dict | None:
        """The image manifest of repo:reference for this machine's platform (an index, as Docker Hub's
        multi-platform images have, is followed to it); None when there is none."""
        manifest = self.manifest(repo, reference)
        if manifest and "manifests" in manifest:
            mine = [m for m in manifest["manifests"] if (m.get("platform") or {}).get("architecture") == architecture()]
            manifest = self.manifest(repo, mine[0]["digest"]) if mine else None
        return manifest

    def diff_ids(self, repo: str, reference: str) -> list[str] | None:
        """The layers (uncompressed diff ids, as an engine's RootFS lists them) of repo:reference, this
        machine's platform's; None when the registry has no such image."""
        manifest = self.platform_manifest(repo, reference)
        digest = ((manifest or {}).get("config") or {}).get("digest")
        if not digest:
            return None
        try:
            config = json.loads(self.blob(repo, digest))
        except ValueError:
            return None
        found = (config.get("rootfs") or {}).get("diff_ids") if isinstance(config, dict) else None
        return list(found) if isinstance(found, list) else None


def _path(location: str) -> str:
    """The path and query of an upload's Location (registries give it absolute or relative)."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")
