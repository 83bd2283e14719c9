# kunit.py --qemu_config for the x86_64 kernel that scripts/kbuild.sh
# builds from configs/x86_64.config (over allnoconfig: a 8250 serial
# console, no initramfs; the suites run at boot, kunit.autorun=1).
from ..qemu_config import QemuArchParams

QEMU_ARCH = QemuArchParams(linux_arch='x86_64',
			   kconfig='''
CONFIG_SERIAL_8250=y
CONFIG_SERIAL_8250_CONSOLE=y''',
			   qemu_arch='x86_64',
			   kernel_path='arch/x86/boot/bzImage',
			   kernel_command_line='console=ttyS0',
			   # qboot, as kunit.py's own x86_64 description;
			   # two CPUs for the case that races two threads
			   extra_qemu_params=['-bios', 'qboot.rom', '-smp', '2'])
