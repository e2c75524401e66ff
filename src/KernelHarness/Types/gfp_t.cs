using System;

namespace KernelHarness;

/// <summary>
/// Get-free-pages flags with Linux's bit values (include/linux/gfp_types.h, the ___GFP_*_BIT order of
/// Linux 6.x without the debug-only bits). The composite masks (<c>GFP_KERNEL</c> …) are on
/// <see cref="Kernel"/>, composed exactly as in Linux.
/// </summary>
[Flags]
public enum gfp_t : uint
{
    /// <summary>No flags: a plain <c>0</c> (<c>GFP_NOWAIT</c> without kswapd).</summary>
    __GFP_NONE = 0,
    __GFP_DMA = 0x01,
    __GFP_HIGHMEM = 0x02,
    __GFP_DMA32 = 0x04,
    __GFP_MOVABLE = 0x08,
    __GFP_RECLAIMABLE = 0x10,
    __GFP_HIGH = 0x20,
    __GFP_IO = 0x40,
    __GFP_FS = 0x80,
    __GFP_ZERO = 0x100,
    __GFP_UNUSED = 0x200,
    __GFP_DIRECT_RECLAIM = 0x400,
    __GFP_KSWAPD_RECLAIM = 0x800,
    __GFP_WRITE = 0x1000,
    __GFP_NOWARN = 0x2000,
    __GFP_RETRY_MAYFAIL = 0x4000,
    __GFP_NOFAIL = 0x8000,
    __GFP_NORETRY = 0x10000,
    __GFP_MEMALLOC = 0x20000,
    __GFP_COMP = 0x40000,
    __GFP_NOMEMALLOC = 0x80000,
    __GFP_HARDWALL = 0x100000,
    __GFP_THISNODE = 0x200000,
    __GFP_ACCOUNT = 0x400000,
    __GFP_ZEROTAGS = 0x800000,
    /// <summary><c>__GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM</c>.</summary>
    __GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM,
}

/// <summary>Slab cache flags (<c>slab_flags_t</c>, include/linux/slab.h).</summary>
[Flags]
public enum slab_flags_t : uint
{
    SLAB_NONE = 0,
    /// <summary>DEBUG: perform (expensive) checks on alloc/free.</summary>
    SLAB_CONSISTENCY_CHECKS = 0x00000100,
    /// <summary>DEBUG: red zone objects in a cache.</summary>
    SLAB_RED_ZONE = 0x00000400,
    /// <summary>DEBUG: poison objects.</summary>
    SLAB_POISON = 0x00000800,
    /// <summary>Objects are kmalloc objects.</summary>
    SLAB_KMALLOC = 0x00001000,
    /// <summary>Align objects on cache lines.</summary>
    SLAB_HWCACHE_ALIGN = 0x00002000,
    /// <summary>Use GFP_DMA memory.</summary>
    SLAB_CACHE_DMA = 0x00004000,
    /// <summary>DEBUG: store the last owner for bug hunting.</summary>
    SLAB_STORE_USER = 0x00010000,
    /// <summary>Panic if kmem_cache_create() fails.</summary>
    SLAB_PANIC = 0x00040000,
    /// <summary>Defer freeing slabs to RCU.</summary>
    SLAB_TYPESAFE_BY_RCU = 0x00080000,
    /// <summary>Account to memcg.</summary>
    SLAB_ACCOUNT = 0x04000000,
}

/// <summary>Physical memory zones (include/linux/mmzone.h), in Linux's index order.</summary>
public enum zone_type
{
    ZONE_DMA = 0,
    ZONE_DMA32 = 1,
    ZONE_NORMAL = 2,
    ZONE_HIGHMEM = 3,
    ZONE_MOVABLE = 4,
}

/// <summary>What an interrupt handler returns (include/linux/irqreturn.h).</summary>
[Flags]
public enum irqreturn_t
{
    /// <summary>The interrupt was not from this device or was not handled.</summary>
    IRQ_NONE = 0,
    /// <summary>The interrupt was handled by this device.</summary>
    IRQ_HANDLED = 1,
    /// <summary>The handler requests to wake the handler thread.</summary>
    IRQ_WAKE_THREAD = 2,
}

/// <summary>An interrupt handler (include/linux/interrupt.h).</summary>
public delegate irqreturn_t irq_handler_t(int irq, object? dev_id);
