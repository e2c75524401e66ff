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

    public static readonly DiagnosticDescriptor KH3001 = Create(
        DiagnosticIds.MismatchedFree,
        "Mismatched free",
        "{0} frees memory from {1} (allocated at {2}){3}; use {4}",
        DiagnosticCategories.Memory, DiagnosticSeverity.Error,
        "Memory must go back to the allocator it came from: kmem_cache_alloc to kmem_cache_free of the same cache, kmalloc to kfree, vmalloc to vfree, __get_free_pages to free_pages of the same order; kvfree takes either.");

    public static readonly DiagnosticDescriptor KH3002 = Create(
        DiagnosticIds.UseBeforeNullCheck,
        "Allocation result used without NULL check",
        "{0} from {1} (at {2}) is passed to {3} before it is checked against NULL; the allocation can fail",
        DiagnosticCategories.Memory, DiagnosticSeverity.Warning,
        "Every allocator that can fail returns NULL (or 0) on failure; test the result before the first dereference.");

    public static readonly DiagnosticDescriptor KH3003 = Create(
        DiagnosticIds.DoubleFree,
        "Double free",
        "{0} frees {1} a second time on this path (already freed at {2}){3}",
        DiagnosticCategories.Memory, DiagnosticSeverity.Error,
        "An allocation freed twice corrupts the allocator's free lists; set the pointer to NULL after freeing or free it on one path only.");

    public static readonly DiagnosticDescriptor KH3004 = Create(
        DiagnosticIds.LeakOnErrorPath,
        "Leak on error path",
        "This error path returns {0} without freeing {1} from {2} (allocated at {3})",
        DiagnosticCategories.Memory, DiagnosticSeverity.Warning,
        "An error path must undo what the function allocated before it: free it, or hand it to an owner (a field, a list, a callee that takes ownership).");

    public static readonly DiagnosticDescriptor KH4001 = Create(
        DiagnosticIds.SharedIrqNullDevId,
        "Shared IRQ with null dev_id",
        "{0} requests a shared line (IRQF_SHARED) with a null dev_id; free_irq could not tell this handler apart",
        DiagnosticCategories.Irq, DiagnosticSeverity.Error,
        "A shared interrupt line needs a unique, non-null dev_id per handler: free_irq uses it to find the handler to remove, and Linux refuses IRQF_SHARED with a NULL dev_id.");

    public static readonly DiagnosticDescriptor KH4002 = Create(
        DiagnosticIds.FreeIrqDevIdMismatch,
        "free_irq dev_id does not match request_irq",
        "free_irq({0}, {1}) does not match any request of irq {0}: it was requested with dev_id {2} (at {3})",
        DiagnosticCategories.Irq, DiagnosticSeverity.Warning,
        "free_irq removes the handler registered with the same dev_id; with another dev_id it finds nothing (\"Trying to free already-free IRQ\") and the handler stays installed.");

    public static readonly DiagnosticDescriptor KH4003 = Create(
        DiagnosticIds.CurrentInInterrupt,
        "`current` in interrupt context",
        "{0} is read in {1}, where current is merely the interrupted task ({2})",
        DiagnosticCategories.Irq, DiagnosticSeverity.Warning,
        "In hard-IRQ and softirq context current is whatever task happened to be interrupted; its mm, pid or credentials say nothing about the interrupt.");

    public static readonly DiagnosticDescriptor KH4004 = Create(
        DiagnosticIds.SharedHandlerClaimsEverything,
        "Handler claims every interrupt on a shared line",
        "{0} is registered on a shared line (at {1}) but returns IRQ_HANDLED on every path without reading its device's state",
        DiagnosticCategories.Irq, DiagnosticSeverity.Warning,
        "On a shared line every handler is called for every interrupt; a handler must check whether its own device raised it and return IRQ_NONE otherwise, or spurious-interrupt detection cannot work.");

    public static readonly DiagnosticDescriptor KH5001 = Create(
        DiagnosticIds.RawJiffiesComparison,
        "Raw jiffies comparison",
        "'{0}' compares jiffies values with '{1}', which is wrong when jiffies wraps; use {2}",
        DiagnosticCategories.Scheduling, DiagnosticSeverity.Warning,
        "jiffies wraps around; compare times with time_after/time_before/time_after_eq/time_before_eq, which subtract and test the sign.");

    public static readonly DiagnosticDescriptor KH5002 = Create(
        DiagnosticIds.WaitWithoutRecheck,
        "Wait without re-checking the condition",
        "{0} after {1} (at {2}) is not inside a loop that re-tests the wait condition",
        DiagnosticCategories.Scheduling, DiagnosticSeverity.Warning,
        "A task woken from schedule() may find its condition still false (spurious or shared wake-ups, signals); loop: prepare_to_wait, test the condition, schedule, as in LKD chapter 4, or use wait_event*.");

    public static readonly DiagnosticDescriptor KH6001 = Create(
        DiagnosticIds.InitMmUserContextTest,
        "`init_mm` used to detect a user context",
        "'{0}' does not tell a kernel thread from a user task: kernel threads have mm == null; test '{1}'",
        DiagnosticCategories.Context, DiagnosticSeverity.Warning,
        "init_mm is the kernel's reference address space; no task has current.mm == &init_mm. A kernel thread has mm == NULL (and borrows active_mm).");

    public static readonly DiagnosticDescriptor KH6002 = Create(
        DiagnosticIds.KernelThreadMmDereference,
        "`mm` of a kernel thread dereferenced",
        "{0} dereferences current.mm in code that runs in a kernel thread ({1}), where mm is null; check it or use active_mm",
        DiagnosticCategories.Context, DiagnosticSeverity.Warning,
        "Kernel threads and work items run with current.mm == NULL; dereferencing it there oopses.");

    public static readonly DiagnosticDescriptor KH9001 = Create(
        DiagnosticIds.ApiNotAllowed,
        "API not allowed in a submission",
        "{0} is not allowed in a submission ({1})",
        DiagnosticCategories.Submission, DiagnosticSeverity.Error,
        "A submission may use only the kernel API and the allowlisted base library; the grader's IL check refuses the same list, so a submission with this finding is not run.");
}
