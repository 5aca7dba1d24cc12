#!/bin/sh
# Runs vdisk's interop suite (packages/cli/test/interop) against bximage, qemu-img and qemu-io.
# It installs nothing: on Debian/Ubuntu, first `apt-get install -y qemu-utils bximage`.
# Missing tools make the suite skip with a warning; VDISK_REQUIRE_INTEROP=1 makes them fail it.
# Extra arguments go to vitest, e.g. `scripts/interop.sh -t probe`.
set -eu
cd "$(dirname "$0")/.."
missing=""
for tool in bximage qemu-img qemu-io; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  echo "interop: missing$missing (apt-get install -y qemu-utils bximage)" >&2
fi
pnpm build
exec npx vitest run --project interop "$@"
