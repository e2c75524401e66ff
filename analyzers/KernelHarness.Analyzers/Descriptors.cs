using Microsoft.CodeAnalysis;

namespace KernelHarness.Analyzers;

/// <summary>Every descriptor, built through one factory that derives the help link from the ID.</summary>
public static class Descriptors
{
    /// <summary>Where the rule pages live; <c>{0}</c> is the ID.</summary>
    public const string HelpLinkFormat = "https://github.com/kernelharness/kernelharness/blob/main/docs/rules/{0}.md";

    public static string HelpLink(string id) => HelpLinkFormat.Replace("{0}", id);

    private static DiagnosticDescriptor Create(string id, string title, string message, string category, DiagnosticSeverity severity, string description)
        => new(id, title, message, category, severity, isEnabledByDefault: true, description: description, helpLinkUri: HelpLink(id));

    public static readonly DiagnosticDescriptor KH1001 = Create(
        DiagnosticIds.SleepInAtomicContext,
        "Sleeping call in atomic context",
        "{0} may sleep, but {1}{2}",
        DiagnosticCategories.Context, DiagnosticSeverity.Error,
        "A call that may sleep is made where the CPU must not schedule: a spinlock is held, interrupts or preemption are disabled, an RCU read-side section is open, or the code runs in hard-IRQ or softirq context.");

    public static readonly DiagnosticDescriptor KH1002 = Create(
        DiagnosticIds.BlockingGfpInAtomicContext,
        "GFP flag allows sleeping in atomic context",
        "{0} with {1} may sleep, but {2}{3}",
        DiagnosticCategories.Context, DiagnosticSeverity.Error,
        "An allocation whose gfp_t allows direct reclaim (gfpflags_allow_blocking) is made in atomic context; use GFP_ATOMIC or GFP_NOWAIT.");

    public static readonly DiagnosticDescriptor KH1003 = Create(
        DiagnosticIds.AtomicGfpWhereSleepingAllowed,
        "GFP_ATOMIC where sleeping is allowed",
        "{0} uses {1}, but {2}() is only reached in process context with nothing held; use GFP_KERNEL",
        DiagnosticCategories.Context, DiagnosticSeverity.Warning,
        "GFP_ATOMIC dips into the emergency reserves and fails more often; where the code may sleep, GFP_KERNEL is the right choice.");

    public static readonly DiagnosticDescriptor KH1004 = Create(
        DiagnosticIds.InvalidGfpCombination,
        "Invalid GFP combination",
        "Invalid GFP combination passed to {0}: {1}",
        DiagnosticCategories.Memory, DiagnosticSeverity.Error,
        "At most one zone modifier may be set, slab allocations must not ask for highmem or DMA32 (GFP_SLAB_BUG_MASK), and __GFP_NOFAIL needs a gfp_t that may block.");

    public static readonly DiagnosticDescriptor KH2001 = Create(
        DiagnosticIds.PreemptionNotBalanced,
        "get_cpu / put_cpu not balanced",
        "{0}",
        DiagnosticCategories.Locking, DiagnosticSeverity.Error,
        "Every get_cpu()/get_cpu_var()/preempt_disable() must be undone by put_cpu()/put_cpu_var()/preempt_enable() on every path, and nothing may be undone twice.");

    public static readonly DiagnosticDescriptor KH2002 = Create(
        DiagnosticIds.IrqSaveNotBalanced,
        "local_irq_save / restore not balanced",
        "{0}",
        DiagnosticCategories.Locking, DiagnosticSeverity.Error,
        "Interrupts disabled with local_irq_save/local_irq_disable must be restored on every path, with the flags of the matching save, in nesting order.");

    public static readonly DiagnosticDescriptor KH2003 = Create(
        DiagnosticIds.LockNotReleased,
        "Lock not released on some path",
        "{0}",
        DiagnosticCategories.Locking, DiagnosticSeverity.Error,
        "A lock (or RCU read-side section, kmap_atomic mapping, disabled bottom half) taken in a function must be released on every exit path, exactly once.");

    public static readonly DiagnosticDescriptor KH2004 = Create(
        DiagnosticIds.MismatchedLockVariant,
        "Mismatched lock variant",
        "{0} was taken with {1} (at {2}) and must be released with {3}, not {4}",
        DiagnosticCategories.Locking, DiagnosticSeverity.Error,
        "Each lock variant has one matching release: spin_lock_irqsave with spin_unlock_irqrestore, spin_lock_bh with spin_unlock_bh, spin_lock_irq with spin_unlock_irq.");
}
