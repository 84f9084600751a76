#!/usr/bin/env bash
# Builds the Debian package with dpkg-deb (no debhelper, no network beyond
# Go modules): static binaries stamped with the version, the systemd unit,
# sysusers.d and tmpfiles.d snippets, the manual page, bash completion,
# the examples. Writes $OUT/switchyard_<version>_<arch>.deb and prints its
# path.
#
#   scripts/build-deb.sh                    # host architecture, version from git
#   VERSION=1.2.3 GOARCH=arm64 scripts/build-deb.sh
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=${OUT:-$ROOT/bin}
GO=${GO:-go}

# Debian versions start with a digit: v1.2.3 -> 1.2.3; an untagged tree
# gets 0.0.0~git<date>.<revision>.
if [ -z "${VERSION:-}" ]; then
  if VERSION=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
    VERSION=${VERSION#v}
    VERSION=${VERSION//-/+}
  else
    VERSION="0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date +%Y%m%d).$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
  fi
fi
GOARCH=${GOARCH:-$($GO env GOARCH)}
case $GOARCH in
  amd64|arm64|riscv64|s390x|ppc64le|mips64le) ARCH=$GOARCH ;;
  386) ARCH=i386 ;;
  arm) ARCH=armhf ;;
  *) echo "no Debian architecture for GOARCH=$GOARCH" >&2; exit 1 ;;
esac

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
PKG=$STAGE/pkg
install -d "$PKG/DEBIAN" "$PKG/usr/bin" "$PKG/lib/systemd/system" \
  "$PKG/usr/lib/sysusers.d" "$PKG/usr/lib/tmpfiles.d" "$PKG/usr/share/man/man8" \
  "$PKG/usr/share/bash-completion/completions" "$PKG/usr/share/doc/switchyard/examples"

CGO_ENABLED=0 GOOS=linux GOARCH=$GOARCH $GO build -trimpath \
  -ldflags "-s -w -X github.com/switchyard-mail/switchyard/internal/version.Version=$VERSION" \
  -o "$PKG/usr/bin/" ./cmd/switchyard ./cmd/switchyard-healthcheck

install -m 0644 deploy/systemd/switchyard.service "$PKG/lib/systemd/system/switchyard.service"
install -m 0644 deploy/systemd/switchyard.sysusers "$PKG/usr/lib/sysusers.d/switchyard.conf"
install -m 0644 deploy/systemd/switchyard.tmpfiles "$PKG/usr/lib/tmpfiles.d/switchyard.conf"
gzip -9n <deploy/man/switchyard.8 >"$PKG/usr/share/man/man8/switchyard.8.gz"
# The completion comes from the flags themselves (a host build: the
# package's binary may be for another architecture).
$GO run ./cmd/switchyard completion bash >"$PKG/usr/share/bash-completion/completions/switchyard"
install -m 0644 deploy/debian/copyright "$PKG/usr/share/doc/switchyard/copyright"

install -m 0644 README.md "$PKG/usr/share/doc/switchyard/README.md"
install -m 0644 config/README.md "$PKG/usr/share/doc/switchyard/configuration.md"
install -m 0644 examples/*.toml "$PKG/usr/share/doc/switchyard/examples/"
install -m 0755 deploy/debian/postinst deploy/debian/postrm deploy/debian/prerm "$PKG/DEBIAN/"

SIZE=$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" deploy/debian/control >"$PKG/DEBIAN/control"
(cd "$PKG" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) >"$PKG/DEBIAN/md5sums"
find "$PKG" -type d -exec chmod 0755 {} +

mkdir -p "$OUT"
DEB=$OUT/switchyard_${VERSION}_${ARCH}.deb
dpkg-deb --root-owner-group -Zxz --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
