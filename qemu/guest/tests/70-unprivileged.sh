# Without CAP_BPF, loading a storage function is refused (EPERM); without
# CAP_PERFMON, listing every process's tags (and so their files) is too.
. /rnvme/lib.sh
su -s /bin/sh user -c 'rnvme-vmtest unprivileged'
load_module
expect_cli_error 'tags failed: Operation not permitted .*CAP_PERFMON' su -s /bin/sh user -c 'rnvme tags'
# Budgets: anyone reads them, only CAP_SYS_ADMIN sets them.
expect_output '^chains in flight per tag: no bound' su -s /bin/sh user -c 'rnvme budgets'
expect_cli_error 'set budgets failed: Operation not permitted .*CAP_SYS_ADMIN' \
	su -s /bin/sh user -c 'rnvme budgets --chains-in-flight 1'
expect_output '^driver hops per ms per tag: 7' rnvme budgets --driver-hops-per-ms 7
expect_output '^driver hops per ms per tag: no bound' rnvme budgets --driver-hops-per-ms 0
