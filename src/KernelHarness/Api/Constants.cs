using KernelHarness.Annotations;

namespace KernelHarness;

/// <summary>
/// The kernel API (kernel-api.md). Constants are declared here, each with Linux's value; every
/// function is declared once in a description under <c>src/KernelHarness/Api</c> and generated into
/// this class by the source generator. Student code reaches it with <c>using static KernelHarness.Kernel;</c>.
/// </summary>
public static partial class Kernel
{
    // ---- Pointers (include/linux/slab.h, include/linux/err.h) ----

    /// <summary>The null pointer.</summary>
    [KernelRole(KernelRole.NullPointer)]
    public static readonly kptr NULL = default;

    /// <summary><c>kmalloc(0)</c>'s answer: <c>((void *)16)</c>, not NULL but backed by nothing.</summary>
    public static readonly kptr ZERO_SIZE_PTR = new(16);

    /// <summary>The largest errno an error pointer encodes.</summary>
    public const int MAX_ERRNO = 4095;

    // ---- errno (include/uapi/asm-generic/errno-base.h, errno.h) ----

    public const int EPERM = 1;
    public const int ENOENT = 2;
    public const int EINTR = 4;
    public const int EIO = 5;
    public const int EAGAIN = 11;
    public const int ENOMEM = 12;
    public const int EACCES = 13;
    public const int EFAULT = 14;
    public const int EBUSY = 16;
    public const int EEXIST = 17;
    public const int ENODEV = 19;
    public const int EINVAL = 22;
    public const int ENOSPC = 28;
    public const int ENOSYS = 38;
    public const int EOVERFLOW = 75;
    public const int ENOTCONN = 107;
    public const int ETIMEDOUT = 110;
    /// <summary>Kernel-internal: a sleep was interrupted by a signal (include/linux/errno.h).</summary>
    public const int ERESTARTSYS = 512;

    // ---- Pages and orders (include/asm-generic/page.h, include/linux/mmzone.h) ----

    public const ulong PAGE_SIZE = 4096;
    public const int PAGE_SHIFT = 12;
    public const ulong PAGE_MASK = ~(PAGE_SIZE - 1);

    /// <summary>The largest buddy order, inclusive (Linux ≥ 6.4; renamed MAX_PAGE_ORDER in 6.8).</summary>
    public const int MAX_PAGE_ORDER = 10;

    /// <summary>Same as <see cref="MAX_PAGE_ORDER"/>: inclusive, as in Linux 6.4–6.7 (not the pre-6.4 exclusive 11).</summary>
    public const int MAX_ORDER = MAX_PAGE_ORDER;

    /// <summary>The number of buddy free lists.</summary>
    public const int NR_PAGE_ORDERS = MAX_PAGE_ORDER + 1;

    /// <summary>The start of the direct map: kernel virtual address of physical address 0 (x86-64).</summary>
    public const ulong PAGE_OFFSET = 0xffff_8880_0000_0000;

    /// <summary>The vmalloc area (x86-64, 4-level paging).</summary>
    public const ulong VMALLOC_START = 0xffff_c900_0000_0000;
    public const ulong VMALLOC_END = 0xffff_e8ff_ffff_ffff;

    // ---- kmalloc (include/linux/slab.h) ----

    public const ulong KMALLOC_MIN_SIZE = 8;
    public const ulong ARCH_KMALLOC_MINALIGN = 8;
    public const ulong ARCH_SLAB_MINALIGN = 8;
    public const int KMALLOC_SHIFT_HIGH = PAGE_SHIFT + 1;
    public const ulong KMALLOC_MAX_CACHE_SIZE = 1UL << KMALLOC_SHIFT_HIGH;
    public const ulong KMALLOC_MAX_SIZE = 1UL << (MAX_PAGE_ORDER + PAGE_SHIFT);
    /// <summary>The cache line size SLAB_HWCACHE_ALIGN aligns to (x86-64).</summary>
    public const ulong L1_CACHE_BYTES = 64;

    // ---- Poison values (include/linux/poison.h) ----

    public const byte POISON_INUSE = 0x5a;
    public const byte POISON_FREE = 0x6b;
    public const byte POISON_END = 0xa5;
    public const byte SLUB_RED_INACTIVE = 0xbb;
    public const byte SLUB_RED_ACTIVE = 0xcc;

    // ---- Slab flags ----

    public const slab_flags_t SLAB_CONSISTENCY_CHECKS = slab_flags_t.SLAB_CONSISTENCY_CHECKS;
    public const slab_flags_t SLAB_RED_ZONE = slab_flags_t.SLAB_RED_ZONE;
    public const slab_flags_t SLAB_POISON = slab_flags_t.SLAB_POISON;
    public const slab_flags_t SLAB_KMALLOC = slab_flags_t.SLAB_KMALLOC;
    public const slab_flags_t SLAB_HWCACHE_ALIGN = slab_flags_t.SLAB_HWCACHE_ALIGN;
    public const slab_flags_t SLAB_CACHE_DMA = slab_flags_t.SLAB_CACHE_DMA;
    public const slab_flags_t SLAB_STORE_USER = slab_flags_t.SLAB_STORE_USER;
    public const slab_flags_t SLAB_PANIC = slab_flags_t.SLAB_PANIC;
    public const slab_flags_t SLAB_TYPESAFE_BY_RCU = slab_flags_t.SLAB_TYPESAFE_BY_RCU;
    public const slab_flags_t SLAB_ACCOUNT = slab_flags_t.SLAB_ACCOUNT;

    // ---- GFP flags (include/linux/gfp_types.h) ----

    public const gfp_t __GFP_DMA = gfp_t.__GFP_DMA;
    public const gfp_t __GFP_HIGHMEM = gfp_t.__GFP_HIGHMEM;
    public const gfp_t __GFP_DMA32 = gfp_t.__GFP_DMA32;
    public const gfp_t __GFP_MOVABLE = gfp_t.__GFP_MOVABLE;
    public const gfp_t __GFP_RECLAIMABLE = gfp_t.__GFP_RECLAIMABLE;
    public const gfp_t __GFP_HIGH = gfp_t.__GFP_HIGH;
    public const gfp_t __GFP_IO = gfp_t.__GFP_IO;
    public const gfp_t __GFP_FS = gfp_t.__GFP_FS;
    public const gfp_t __GFP_ZERO = gfp_t.__GFP_ZERO;
    public const gfp_t __GFP_DIRECT_RECLAIM = gfp_t.__GFP_DIRECT_RECLAIM;
    public const gfp_t __GFP_KSWAPD_RECLAIM = gfp_t.__GFP_KSWAPD_RECLAIM;
    public const gfp_t __GFP_RECLAIM = gfp_t.__GFP_RECLAIM;
    public const gfp_t __GFP_WRITE = gfp_t.__GFP_WRITE;
    public const gfp_t __GFP_NOWARN = gfp_t.__GFP_NOWARN;
    public const gfp_t __GFP_RETRY_MAYFAIL = gfp_t.__GFP_RETRY_MAYFAIL;
    public const gfp_t __GFP_NOFAIL = gfp_t.__GFP_NOFAIL;
    public const gfp_t __GFP_NORETRY = gfp_t.__GFP_NORETRY;
    public const gfp_t __GFP_MEMALLOC = gfp_t.__GFP_MEMALLOC;
    public const gfp_t __GFP_COMP = gfp_t.__GFP_COMP;
    public const gfp_t __GFP_NOMEMALLOC = gfp_t.__GFP_NOMEMALLOC;
    public const gfp_t __GFP_HARDWALL = gfp_t.__GFP_HARDWALL;
    public const gfp_t __GFP_THISNODE = gfp_t.__GFP_THISNODE;
    public const gfp_t __GFP_ACCOUNT = gfp_t.__GFP_ACCOUNT;

    /// <summary>The zone modifiers: at most one of DMA, DMA32, HIGHMEM may be set (GFP_ZONEMASK).</summary>
    public const gfp_t GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE;

    /// <summary>Flags a slab allocation must not carry (mm/slab.h <c>GFP_SLAB_BUG_MASK</c>).</summary>
    public const gfp_t GFP_SLAB_BUG_MASK = __GFP_DMA32 | __GFP_HIGHMEM;

    /// <summary>The caller cannot reclaim or sleep and is high priority: may dip into reserves.</summary>
    [KernelRole(KernelRole.GfpFlags)] public const gfp_t GFP_ATOMIC = __GFP_HIGH | __GFP_KSWAPD_RECLAIM;
    /// <summary>Typical for kernel-internal allocations: may sleep, reclaim and do I/O.</summary>
    [KernelRole(KernelRole.GfpFlags)] public const gfp_t GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS;
    [KernelRole(KernelRole.GfpFlags)] public const gfp_t GFP_KERNEL_ACCOUNT = GFP_KERNEL | __GFP_ACCOUNT;
    /// <summary>Cannot sleep, and gets no access to the atomic reserve.</summary>
    [KernelRole(KernelRole.GfpFlags)] public const gfp_t GFP_NOWAIT = __GFP_KSWAPD_RECLAIM;
    [KernelRole(KernelRole.GfpFlags)] public const gfp_t GFP_NOIO = __GFP_RECLAIM;
    [KernelRole(KernelRole.GfpFlags)] public const gfp_t GFP_NOFS = __GFP_RECLAIM | __GFP_IO;
    [KernelRole(KernelRole.GfpFlags)] public const gfp_t GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL;
    [KernelRole(KernelRole.GfpFlags)] public const gfp_t GFP_DMA = __GFP_DMA;
    [KernelRole(KernelRole.GfpFlags)] public const gfp_t GFP_DMA32 = __GFP_DMA32;
    [KernelRole(KernelRole.GfpFlags)] public const gfp_t GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM;
    [KernelRole(KernelRole.GfpFlags)] public const gfp_t GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE;

    // ---- Zones ----

    public const zone_type ZONE_DMA = zone_type.ZONE_DMA;
    public const zone_type ZONE_DMA32 = zone_type.ZONE_DMA32;
    public const zone_type ZONE_NORMAL = zone_type.ZONE_NORMAL;
    public const zone_type ZONE_HIGHMEM = zone_type.ZONE_HIGHMEM;
    public const zone_type ZONE_MOVABLE = zone_type.ZONE_MOVABLE;
    public const int MAX_NR_ZONES = 5;

    // ---- Page flags (include/linux/page-flags.h; bit masks here) ----

    public const ulong PG_locked = 1UL << 0;
    public const ulong PG_referenced = 1UL << 1;
    public const ulong PG_uptodate = 1UL << 2;
    public const ulong PG_dirty = 1UL << 3;
    public const ulong PG_lru = 1UL << 4;
    public const ulong PG_head = 1UL << 6;
    public const ulong PG_reserved = 1UL << 10;
    public const ulong PG_private = 1UL << 11;
    /// <summary>The page is the head of a free buddy block (Linux: page type PGTY_buddy).</summary>
    public const ulong PG_buddy = 1UL << 20;
    /// <summary>The page belongs to a slab (Linux: page type PGTY_slab).</summary>
    public const ulong PG_slab = 1UL << 21;
    /// <summary>The page is a tail of a compound page.</summary>
    public const ulong PG_tail = 1UL << 22;

    // ---- Address space (include/linux/mm.h, include/uapi/asm-generic/mman-common.h) ----

    public const ulong VM_NONE = 0x0;
    public const ulong VM_READ = 0x1;
    public const ulong VM_WRITE = 0x2;
    public const ulong VM_EXEC = 0x4;
    public const ulong VM_SHARED = 0x8;
    public const ulong VM_MAYREAD = 0x10;
    public const ulong VM_MAYWRITE = 0x20;
    public const ulong VM_MAYEXEC = 0x40;
    public const ulong VM_MAYSHARE = 0x80;
    public const ulong VM_GROWSDOWN = 0x100;
    public const ulong VM_PFNMAP = 0x400;
    public const ulong VM_LOCKED = 0x2000;
    public const ulong VM_IO = 0x4000;
    public const ulong VM_DONTCOPY = 0x20000;
    public const ulong VM_DONTEXPAND = 0x40000;
    public const ulong VM_ACCOUNT = 0x100000;
    public const ulong VM_NORESERVE = 0x200000;
    public const ulong VM_WIPEONFORK = 0x2000000;
    public const ulong VM_SOFTDIRTY = 0x8000000;
    public const ulong VM_MIXEDMAP = 0x10000000;
    /// <summary>Flags that forbid merging (<c>VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP</c>).</summary>
    public const ulong VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP;

    public const ulong PROT_NONE = 0x0;
    public const ulong PROT_READ = 0x1;
    public const ulong PROT_WRITE = 0x2;
    public const ulong PROT_EXEC = 0x4;

    public const ulong MAP_SHARED = 0x01;
    public const ulong MAP_PRIVATE = 0x02;
    public const ulong MAP_TYPE = 0x0f;
    public const ulong MAP_FIXED = 0x10;
    public const ulong MAP_ANONYMOUS = 0x20;
    public const ulong MAP_GROWSDOWN = 0x0100;
    public const ulong MAP_NORESERVE = 0x4000;
    public const ulong MAP_POPULATE = 0x8000;
    public const ulong MAP_FIXED_NOREPLACE = 0x100000;

    /// <summary>The top of the user address space (x86-64, 4-level paging: <c>(1 &lt;&lt; 47) - PAGE_SIZE</c>).</summary>
    public const ulong TASK_SIZE = (1UL << 47) - PAGE_SIZE;
    /// <summary>Where bottom-up mmap searches start (<c>PAGE_ALIGN(TASK_SIZE / 3)</c>).</summary>
    public const ulong TASK_UNMAPPED_BASE = (TASK_SIZE / 3 + PAGE_SIZE - 1) & PAGE_MASK;
    /// <summary>The lowest address a mapping may use (CONFIG_DEFAULT_MMAP_MIN_ADDR on x86).</summary>
    public const ulong MMAP_MIN_ADDR = 65536;
    /// <summary><c>USHRT_MAX - MAPCOUNT_ELF_CORE_MARGIN</c>.</summary>
    public const int DEFAULT_MAX_MAP_COUNT = 65530;

    // ---- Interrupts (include/linux/interrupt.h, kernel/irq/internals.h) ----

    public const irqreturn_t IRQ_NONE = irqreturn_t.IRQ_NONE;
    public const irqreturn_t IRQ_HANDLED = irqreturn_t.IRQ_HANDLED;
    public const irqreturn_t IRQ_WAKE_THREAD = irqreturn_t.IRQ_WAKE_THREAD;

    public const ulong IRQF_TRIGGER_NONE = 0x00000000;
    public const ulong IRQF_TRIGGER_RISING = 0x00000001;
    public const ulong IRQF_TRIGGER_FALLING = 0x00000002;
    public const ulong IRQF_TRIGGER_HIGH = 0x00000004;
    public const ulong IRQF_TRIGGER_LOW = 0x00000008;
    public const ulong IRQF_TRIGGER_MASK = IRQF_TRIGGER_HIGH | IRQF_TRIGGER_LOW | IRQF_TRIGGER_RISING | IRQF_TRIGGER_FALLING;
    public const ulong IRQF_SHARED = 0x00000080;
    public const ulong IRQF_PROBE_SHARED = 0x00000100;
    public const ulong IRQF_TIMER = 0x00000200;
    public const ulong IRQF_PERCPU = 0x00000400;
    public const ulong IRQF_NOBALANCING = 0x00000800;
    public const ulong IRQF_IRQPOLL = 0x00001000;
    public const ulong IRQF_ONESHOT = 0x00002000;
    public const ulong IRQF_NO_SUSPEND = 0x00004000;
    public const ulong IRQF_FORCE_RESUME = 0x00008000;
    public const ulong IRQF_NO_THREAD = 0x00010000;
    public const ulong IRQF_EARLY_RESUME = 0x00020000;
    public const ulong IRQF_COND_SUSPEND = 0x00040000;
    public const ulong IRQF_NO_AUTOEN = 0x00080000;
    public const ulong IRQF_NO_DEBUG = 0x00100000;

    public const uint IRQS_AUTODETECT = 0x00000001;
    public const uint IRQS_SPURIOUS_DISABLED = 0x00000002;
    public const uint IRQS_POLL_INPROGRESS = 0x00000008;
    public const uint IRQS_ONESHOT = 0x00000020;
    public const uint IRQS_REPLAY = 0x00000040;
    public const uint IRQS_WAITING = 0x00000080;
    public const uint IRQS_PENDING = 0x00000200;
    public const uint IRQS_SUSPENDED = 0x00000800;

    /// <summary>The interrupt flag of x86 EFLAGS: set in saved flags when interrupts were enabled.</summary>
    public const ulong X86_EFLAGS_IF = 0x200;

    // ---- preempt_count layout (include/linux/preempt.h) ----

    public const int PREEMPT_BITS = 8;
    public const int SOFTIRQ_BITS = 8;
    public const int HARDIRQ_BITS = 4;
    public const int NMI_BITS = 4;
    public const int PREEMPT_SHIFT = 0;
    public const int SOFTIRQ_SHIFT = PREEMPT_SHIFT + PREEMPT_BITS;
    public const int HARDIRQ_SHIFT = SOFTIRQ_SHIFT + SOFTIRQ_BITS;
    public const int NMI_SHIFT = HARDIRQ_SHIFT + HARDIRQ_BITS;
    public const int PREEMPT_MASK = 0x000000ff;
    public const int SOFTIRQ_MASK = 0x0000ff00;
    public const int HARDIRQ_MASK = 0x000f0000;
    public const int NMI_MASK = 0x00f00000;
    public const int PREEMPT_OFFSET = 1 << PREEMPT_SHIFT;
    public const int SOFTIRQ_OFFSET = 1 << SOFTIRQ_SHIFT;
    public const int HARDIRQ_OFFSET = 1 << HARDIRQ_SHIFT;
    public const int NMI_OFFSET = 1 << NMI_SHIFT;
    public const int SOFTIRQ_DISABLE_OFFSET = 2 * SOFTIRQ_OFFSET;
    public const int SOFTIRQ_LOCK_OFFSET = SOFTIRQ_DISABLE_OFFSET + PREEMPT_OFFSET;
    public const int PREEMPT_NEED_RESCHED = unchecked((int)0x80000000);

    // ---- Tasks (include/linux/sched.h) ----

    public const uint TASK_RUNNING = 0x0000;
    public const uint TASK_INTERRUPTIBLE = 0x0001;
    public const uint TASK_UNINTERRUPTIBLE = 0x0002;
    public const uint __TASK_STOPPED = 0x0004;
    public const uint __TASK_TRACED = 0x0008;
    public const uint EXIT_DEAD = 0x0010;
    public const uint EXIT_ZOMBIE = 0x0020;
    public const uint TASK_DEAD = 0x0080;
    public const uint TASK_WAKEKILL = 0x0100;
    public const uint TASK_NOLOAD = 0x0400;
    public const uint TASK_KILLABLE = TASK_WAKEKILL | TASK_UNINTERRUPTIBLE;
    public const uint TASK_IDLE = TASK_UNINTERRUPTIBLE | TASK_NOLOAD;
    public const uint TASK_NORMAL = TASK_INTERRUPTIBLE | TASK_UNINTERRUPTIBLE;

    public const uint PF_IDLE = 0x00000002;
    public const uint PF_EXITING = 0x00000004;
    public const uint PF_MEMALLOC = 0x00000800;
    public const uint PF_KTHREAD = 0x00200000;

    /// <summary>The length of <c>task_struct.comm</c> including the terminating NUL.</summary>
    public const int TASK_COMM_LEN = 16;

    /// <summary>Sleep forever in <c>schedule_timeout</c>.</summary>
    public const long MAX_SCHEDULE_TIMEOUT = long.MaxValue;

    // ---- Time (include/asm-generic/param.h) ----

    /// <summary>Timer ticks per second.</summary>
    public const ulong HZ = 100;

    public const uint TIMER_DEFERRABLE = 0x00080000;
    public const uint TIMER_PINNED = 0x00200000;
    public const uint TIMER_IRQSAFE = 0x00400000;

    // ---- Workqueues (include/linux/workqueue.h) ----

    public const uint WQ_UNBOUND = 1 << 1;
    public const uint WQ_FREEZABLE = 1 << 2;
    public const uint WQ_MEM_RECLAIM = 1 << 3;
    public const uint WQ_HIGHPRI = 1 << 4;

    // ---- printk levels (include/linux/kern_levels.h) ----

    public const string KERN_SOH = "\u0001";
    public const string KERN_EMERG = KERN_SOH + "0";
    public const string KERN_ALERT = KERN_SOH + "1";
    public const string KERN_CRIT = KERN_SOH + "2";
    public const string KERN_ERR = KERN_SOH + "3";
    public const string KERN_WARNING = KERN_SOH + "4";
    public const string KERN_NOTICE = KERN_SOH + "5";
    public const string KERN_INFO = KERN_SOH + "6";
    public const string KERN_DEBUG = KERN_SOH + "7";
}
