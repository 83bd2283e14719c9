# kunit.py --qemu_config for the kernels that scripts/kbuild.sh builds from
# configs/arm64.config: they have only the GICv3 interrupt controller driver
# (kunit.py's own arm64 description boots virt with a GICv2) and boot the
# plain Image.  kconfig is what kunit.py's own config step would add; the
# workspace configures with merge_config.sh and runs "kunit.py exec" only.
from ..qemu_config import QemuArchParams

QEMU_ARCH = QemuArchParams(linux_arch='arm64',
			   kconfig='''
CONFIG_SERIAL_AMBA_PL011=y
CONFIG_SERIAL_AMBA_PL011_CONSOLE=y''',
			   qemu_arch='aarch64',
			   kernel_path='arch/arm64/boot/Image',
			   kernel_command_line='console=ttyAMA0',
			   extra_qemu_params=['-machine', 'virt,gic-version=3',
					      '-cpu', 'cortex-a57',
					      # The arm-smmu-v3 cases with a
					      # software SMMU need a CPU of their
					      # own for it, or they skip
					      '-smp', '2'])
