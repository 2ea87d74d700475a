# Without CAP_BPF, loading a storage function is refused (EPERM); without
# CAP_PERFMON, listing every process's tags (and so their files) is too.
. /rnvme/lib.sh
su -s /bin/sh user -c 'rnvme-vmtest unprivileged'
load_module
expect_cli_error 'tags failed: Operation not permitted .*CAP_PERFMON' su -s /bin/sh user -c 'rnvme tags'
