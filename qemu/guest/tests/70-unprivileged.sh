# Without CAP_BPF, loading a storage function is refused (EPERM).
. /rnvme/lib.sh
su -s /bin/sh user -c 'rnvme-vmtest unprivileged'
