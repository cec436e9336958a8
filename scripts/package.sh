#!/usr/bin/env bash
# Builds every pbxagent package into dist/ (or $DIST):
#
#   pbxagent_<version>-1_amd64.deb   pbxagent-<version>-1.x86_64.rpm
#   pbxagent_<version>-1_arm64.deb   pbxagent-<version>-1.aarch64.rpm
#   pbxagent-<version>-windows-amd64.zip
#   SHA256SUMS
#
# The .deb and .rpm come from one description, packaging/nfpm.yaml, built
# with nfpm v2.45.2; the systemd unit inside is rendered by packaging/genunit
# from the same code as `pbxagent install`. The build is reproducible: two
# runs on one commit with the same Go toolchain give identical bytes (every
# date is SOURCE_DATE_EPOCH, the last commit's time). A signed Windows
# executable is not: its signature holds the signing time.
#
# Environment (all optional):
#   DIST=DIR             output folder (default dist)
#   VERSION=X            package version (default from git describe, mapped
#                        to a valid deb/rpm version; a leading "v" is dropped)
#   TARGETS="os/arch..." default "linux/amd64 linux/arm64 windows/amd64"
#   SOURCE_DATE_EPOCH=N  default: time of the last commit
#   MAINTAINER="Name <mail>"  the packages' maintainer field
#   NFPM=PATH            an nfpm binary to use instead of building v2.45.2
#   Signing the Windows executable with osslsigncode, before it is zipped:
#   SIGN_CERT=FILE SIGN_KEY=FILE          PEM certificate (chain) and key, or
#   SIGN_PKCS12=FILE                      a PKCS#12 file;
#   SIGN_PASSWORD=X                       password of the key or PKCS#12
#                                         (passed in a file, never echoed);
#   SIGN_TIMESTAMP_URL=URL                RFC 3161 time-stamping server.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

export PATH="$PATH:/usr/local/go/bin"
export CGO_ENABLED=0 GOAMD64=v1 GOARM64=v8.0 LC_ALL=C TZ=UTC

NFPM_VERSION=v2.45.2
DIST=${DIST:-dist}
TARGETS=${TARGETS:-linux/amd64 linux/arm64 windows/amd64}
MAINTAINER=${MAINTAINER:-pbxagent maintainers <maintainers@pbxagent.invalid>}

die() { echo "package.sh: $*" >&2; exit 1; }

# --- version and date ---------------------------------------------------
if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
	SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) ||
		die "not a git checkout: set SOURCE_DATE_EPOCH (and VERSION)"
fi
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be seconds since 1970"
export SOURCE_DATE_EPOCH

# map_version turns `git describe --tags --always` into a version dpkg and
# rpm both order correctly:
#   v1.2.3             -> 1.2.3
#   v1.2.3-rc1         -> 1.2.3~rc1              (before 1.2.3)
#   v1.2.3-4-gabc1234  -> 1.2.3+git4.abc1234     (after 1.2.3)
#   abc1234 (no tag)   -> 0.0.0~git<YYYYmmddHHMMSS of the commit>.abc1234
# $2 is "tagged" when the commit has a tag in its history (a bare commit
# hash can start with a digit too).
map_version() {
	local d=$1 base count sha
	if [[ $2 != tagged ]]; then
		echo "0.0.0~git$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d%H%M%S).$d"
	elif [[ $d =~ ^v?([0-9].*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
		base=${BASH_REMATCH[1]} count=${BASH_REMATCH[2]} sha=${BASH_REMATCH[3]}
		echo "${base//-/\~}+git$count.$sha"
	elif [[ $d =~ ^v?([0-9].*)$ ]]; then
		base=${BASH_REMATCH[1]}
		echo "${base//-/\~}"
	else
		die "tag \"$d\" does not start with a version number: set VERSION"
	fi
}
if [[ -n "${VERSION:-}" ]]; then
	VERSION=${VERSION#v}
else
	desc=$(git describe --tags --always 2>/dev/null) || die "not a git checkout: set VERSION"
	tagged=untagged
	git describe --tags --abbrev=0 >/dev/null 2>&1 && tagged=tagged
	VERSION=$(map_version "$desc" "$tagged")
fi
[[ $VERSION =~ ^[0-9][A-Za-z0-9.+~]*$ ]] ||
	die "version \"$VERSION\" is not a valid deb/rpm version (digits first, then letters, digits, . + ~)"
export VERSION MAINTAINER

echo "== pbxagent $VERSION (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH: $(date -u -d "@$SOURCE_DATE_EPOCH" +%FT%TZ))"

work=$(mktemp -d "${TMPDIR:-/tmp}/pbxagent-package.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$DIST"
DIST=$(cd "$DIST" && pwd)

# --- tools --------------------------------------------------------------
# nfpm is built from its module at a pinned version (kept out of go.mod).
if [[ -z "${NFPM:-}" ]]; then
	tools=${PBXAGENT_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/pbxagent/tools}/nfpm-$NFPM_VERSION
	NFPM=$tools/nfpm
	if [[ ! -x $NFPM ]]; then
		echo "== building nfpm $NFPM_VERSION"
		mkdir -p "$tools"
		GOBIN=$tools go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$NFPM_VERSION"
	fi
fi
go build -o "$work/genunit" ./packaging/genunit
go build -o "$work/mkzip" ./packaging/mkzip

# --- files shared by the Linux packages ---------------------------------
common=$work/common
mkdir -p "$common/scripts"
"$work/genunit" >"$common/pbxagent.service"
cp packaging/pbxagent.yaml packaging/copyright packaging/lintian-overrides packaging/LICENSE "$common/"
cp packaging/prometheus/pbxagent-rules.yml "$common/"
cp packaging/scripts/postinstall.sh packaging/scripts/preremove.sh packaging/scripts/postremove.sh "$common/scripts/"
# Man pages and shell completions come from the command tree of a build
# for this machine, so they list every command and flag of the release. The
# genman tag adds the hidden `man` command, kept out of the shipped binaries
# (its Markdown packages would cost every start-up memory).
go build -tags genman -trimpath -buildvcs=false -ldflags "-X main.version=$VERSION" -o "$work/pbxagent-host" ./cmd/pbxagent
mkdir -p "$common/man" "$common/completions"
"$work/pbxagent-host" man "$common/man"
for page in "$common"/man/*.1; do
	gzip -9n "$page"
done
"$work/pbxagent-host" completion bash >"$common/completions/pbxagent.bash"
"$work/pbxagent-host" completion zsh >"$common/completions/_pbxagent"
"$work/pbxagent-host" completion fish >"$common/completions/pbxagent.fish"
sed -e "s|@VERSION@|$VERSION-1|" \
	-e "s|@DATE@|$(date -u -d "@$SOURCE_DATE_EPOCH" +%FT%TZ)|" \
	-e "s|@MAINTAINER@|$MAINTAINER|" packaging/changelog.yaml >"$common/changelog.yaml"

built=()
for target in $TARGETS; do
	os=${target%/*} arch=${target#*/}
	ext=""; [[ $os == windows ]] && ext=.exe
	echo "== $os/$arch"
	stage=$work/$os-$arch
	mkdir -p "$stage"
	GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false \
		-ldflags "-s -w -buildid= -X main.version=$VERSION" \
		-o "$stage/pbxagent$ext" ./cmd/pbxagent

	case $os in
	linux)
		cp -R "$common/." "$stage/"
		for fmt in deb rpm; do
			out=$(cd "$stage" && ARCH=$arch "$NFPM" package -f "$repo/packaging/nfpm.yaml" -p "$fmt" -t "$stage/") ||
				die "nfpm $fmt $arch failed: $out"
			pkg=$(sed -n 's/^.*created package: //p' <<<"$out" | tail -n1)
			[[ -f $pkg ]] || die "nfpm $fmt $arch: no package in its output: $out"
			mv -f "$pkg" "$DIST/"
			built+=("$(basename "$pkg")")
		done
		;;
	windows)
		exe=$stage/pbxagent.exe
		if [[ -n "${SIGN_PKCS12:-}" || -n "${SIGN_CERT:-}" ]]; then
			echo "   signing pbxagent.exe"
			sign=(osslsigncode sign -h sha256 -n pbxagent -i https://github.com/pbxagent/pbxagent)
			if [[ -n "${SIGN_PKCS12:-}" ]]; then
				sign+=(-pkcs12 "$SIGN_PKCS12")
			else
				[[ -n "${SIGN_KEY:-}" ]] || die "SIGN_CERT needs SIGN_KEY"
				sign+=(-certs "$SIGN_CERT" -key "$SIGN_KEY")
			fi
			if [[ -n "${SIGN_PASSWORD:-}" ]]; then
				(umask 077 && printf '%s' "$SIGN_PASSWORD" >"$work/sign.pass")
				sign+=(-readpass "$work/sign.pass")
			fi
			[[ -n "${SIGN_TIMESTAMP_URL:-}" ]] && sign+=(-ts "$SIGN_TIMESTAMP_URL")
			"${sign[@]}" -in "$exe" -out "$exe.signed" >"$work/sign.log" 2>&1 ||
				die "osslsigncode failed: $(cat "$work/sign.log")"
			rm -f "$work/sign.pass"
			mv -f "$exe.signed" "$exe"
		fi
		zip=pbxagent-$VERSION-$os-$arch.zip
		"$work/mkzip" -o "$DIST/$zip" -mtime "$SOURCE_DATE_EPOCH" -crlf \
			"pbxagent.exe=$exe" \
			"pbxagent.yaml=packaging/pbxagent.yaml" \
			"INSTALL.txt=packaging/INSTALL.txt"
		built+=("$zip")
		;;
	*)
		die "unsupported target $target"
		;;
	esac
done

(cd "$DIST" && printf '%s\n' "${built[@]}" | sort | xargs -d '\n' sha256sum -- >SHA256SUMS)
echo "== $DIST"
(cd "$DIST" && cat SHA256SUMS)
