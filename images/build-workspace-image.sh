#!/usr/bin/env bash
# Build dockyard's default workspace image without any registry: a rootfs with a
# static busybox (shell + coreutils) and git, assembled from Debian packages and
# loaded with `docker import`. About 9 MB; takes a few seconds.
#
# usage: images/build-workspace-image.sh [IMAGE_TAG]   (default dockyard/workspace:latest)
set -euo pipefail

tag="${1:-dockyard/workspace:latest}"
arch_triplet="$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chown _apt "$work" 2>/dev/null || chmod 777 "$work"  # apt-get download runs as _apt

cd "$work"
apt-get download busybox-static git libpcre2-8-0 zlib1g libc6 >/dev/null
for deb in ./*.deb; do dpkg-deb -x "$deb" pkgs; done

root="$work/rootfs"
mkdir -p "$root"/{bin,usr/bin,usr/share,etc,tmp,root,workspace,lib/"$arch_triplet"}
chmod 1777 "$root/tmp"

cp pkgs/bin/busybox "$root/bin/busybox"
for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
cp pkgs/usr/bin/git "$root/usr/bin/git"
cp -r pkgs/usr/share/git-core "$root/usr/share/git-core"
# git's helper programs (git-upload-pack & co) are links to git itself.
mkdir -p "$root/usr/lib/git-core"
for helper in git-upload-pack git-receive-pack git-upload-archive; do
    ln -s ../../bin/git "$root/usr/lib/git-core/$helper"
done

libdir="pkgs/lib/$arch_triplet"
[ -d "$libdir" ] || libdir="pkgs/usr/lib/$arch_triplet"
for lib in libc.so.6 libpcre2-8.so.0 libz.so.1 libm.so.6 libpthread.so.0 ld-linux-x86-64.so.2; do
    for dir in "pkgs/lib/$arch_triplet" "pkgs/usr/lib/$arch_triplet"; do
        if [ -e "$dir/$lib" ]; then cp -L "$dir/$lib" "$root/lib/$arch_triplet/$lib"; break; fi
    done
done
mkdir -p "$root/lib64"
ln -s "../lib/$arch_triplet/ld-linux-x86-64.so.2" "$root/lib64/ld-linux-x86-64.so.2"

printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"

tar -C "$root" -c . | docker import \
    --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' \
    --change 'WORKDIR /workspace' \
    --change 'CMD ["/bin/sh"]' \
    --change 'LABEL dockyard.image=workspace' \
    - "$tag" >/dev/null
echo "$tag"
