using System;

namespace KernelHarness;

/// <summary>One handler registered on an interrupt line (<c>struct irqaction</c>, include/linux/interrupt.h).</summary>
public sealed class irqaction
{
    /// <summary>The primary (hard-IRQ) handler.</summary>
    public irq_handler_t? handler;

    /// <summary>The threaded handler, run in process context when the primary returns <c>IRQ_WAKE_THREAD</c>.</summary>
    public irq_handler_t? thread_fn;

    /// <summary>The cookie identifying the device (compared by reference on <c>free_irq</c>).</summary>
    public object? dev_id;

    /// <summary>The next action on a shared line.</summary>
    public irqaction? next;

    /// <summary>The interrupt number.</summary>
    public uint irq;

    /// <summary><c>IRQF_*</c> flags.</summary>
    public ulong flags;

    /// <summary>The device name (<c>devname</c> in /proc/interrupts).</summary>
    public string name = "";

    /// <summary>The handler thread of a threaded action.</summary>
    public task_struct? thread;

    /// <summary>This action's bit in the line's oneshot mask.</summary>
    public ulong thread_mask;

    /// <summary>The thread has been woken and has not yet finished (IRQTF_RUNTHREAD).</summary>
    public bool thread_pending;

    public override string ToString() => $"{name} (irq {irq})";
}

/// <summary>
/// An interrupt descriptor (<c>struct irq_desc</c>, include/linux/irqdesc.h): the state of one line.
/// </summary>
public sealed class irq_desc
{
    public irq_desc(uint irq) => this.irq = irq;

    /// <summary>The interrupt number.</summary>
    public readonly uint irq;

    /// <summary>The chain of handlers, in registration order.</summary>
    public irqaction? action;

    /// <summary>Nested disable depth: the line is masked while it is above 0.</summary>
    public int depth = 1;

    /// <summary>Interrupts counted in the spurious-detection window.</summary>
    public uint irq_count;

    /// <summary>Unhandled interrupts in the window.</summary>
    public uint irqs_unhandled;

    /// <summary>When the last unhandled interrupt came (jiffies).</summary>
    public ulong last_unhandled;

    /// <summary>Internal state bits (<c>IRQS_*</c>: pending, spurious-disabled, oneshot, …).</summary>
    public uint istate;

    /// <summary>Handlers running now on some CPU (hard-IRQ part).</summary>
    public int handlers_running;

    /// <summary>Threaded handlers woken and not yet finished.</summary>
    public int threads_active;

    /// <summary>Oneshot actions whose threads have not finished (<c>threads_oneshot</c>).</summary>
    public ulong threads_oneshot;

    /// <summary>The trigger type of the first action (<c>IRQF_TRIGGER_MASK</c> bits).</summary>
    public ulong trigger_type;

    /// <summary>Total interrupts delivered (<c>/proc/interrupts</c>).</summary>
    public ulong kstat_irqs;

    /// <summary>Implementation-owned state.</summary>
    public object? @private;

    public override string ToString() => $"irq {irq} depth:{depth}";
}
