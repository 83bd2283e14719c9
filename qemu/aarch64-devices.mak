# Devices of the aarch64 system emulator built for the iommu-reset tests
# (configure --without-default-devices --with-devices-aarch64=iommu-reset).
# The virt board selects its own devices (GIC, SMMUv3, PCIe host, PL011,
# fw_cfg, virtio-mmio, ...); this adds the PCI(e) devices the test
# scenarios plug into it.  Keep it short: every line costs build time.

CONFIG_ARM_VIRT=y

# PCIe topology: root ports, switches, PCIe-to-PCI bridge (DMA aliases)
CONFIG_PCIE_PORT=y
CONFIG_XIO3130=y
CONFIG_PCIE_PCI_BRIDGE=y
CONFIG_PCI_BRIDGE=y

# Endpoints: virtio (ats=on, aer=on, FLR), NVMe, igb (FLR)
CONFIG_VIRTIO_PCI=y
CONFIG_VIRTIO_BLK=y
CONFIG_VIRTIO_NET=y
CONFIG_VIRTIO_SERIAL=y
CONFIG_NVME_PCI=y
CONFIG_IGB_PCI_EXPRESS=y
CONFIG_PCI_TESTDEV=y

# QEMU 10.0's Kconfig misses these dependencies: nvme links against the
# SPDM socket backend, igb against e1000x_common.c (built with e1000e).
CONFIG_SPDM_SOCKET=y
CONFIG_E1000E_PCI_EXPRESS=y
