using System;
using System.Collections.Generic;
using System.Globalization;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace KernelHarness.Reference.Irq;

/// <summary>
/// The reference "irq" subsystem: kernel/irq/manage.c (request/free, disable/enable depth,
/// synchronize, threaded handlers and ONESHOT), kernel/irq/handle.c (dispatch of every action) and
/// kernel/irq/spurious.c (note_interrupt).
/// </summary>
/// <remarks>
/// Invariants, stated once:
///  - a line is unmasked at the controller only while it has an action, depth == 0 and no ONESHOT
///    thread is still pending (threads_oneshot == 0);
///  - actions are appended at the tail and each one is removed only by the free_irq naming its dev_id;
///  - depth counts disables: the first action's startup sets it to 0 (1 with IRQF_NO_AUTOEN), free
///    leaves it as it is, spurious detection adds one;
///  - an interrupt arriving while the line is disabled or already in progress on another CPU sets
///    IRQS_PENDING and is replayed when the line is enabled (or the running CPU loops, as handle_edge_irq).
/// Reference code uses the machine directly (no interleaving points), as the real IRQ core runs under
/// desc->lock.
/// </remarks>
public sealed class ReferenceIrq : IIrq
{
    /// <summary><c>IRQ_NOTCONNECTED</c> (include/linux/interrupt.h).</summary>
    internal const uint IRQ_NOTCONNECTED = 1u << 31;

    private const uint SpuriousWindow = 100_000;
    private const uint SpuriousThreshold = 99_900;

    private irq_desc?[] descs = Array.Empty<irq_desc?>();

    private static Machine M => Machine.Current;

    /// <summary>Per-line state the reference keeps beside the descriptor.</summary>
    private sealed class DescState
    {
        /// <summary>CPUs running a hard-IRQ handler of the line now (IRQD_IRQ_INPROGRESS per CPU).</summary>
        public ulong CpusRunning;
    }

    private static DescState StateOf(irq_desc desc) => (DescState)desc.@private!;

    // ---- Boot (kernel/irq/irqdesc.c) ----

    public void early_irq_init()
    {
        int n = Arch.nr_irqs;
        descs = new irq_desc?[n];
        for (uint i = 0; i < n; i++)
        {
            descs[i] = new irq_desc(i) { depth = 1, @private = new DescState() };
            Arch.irq_chip_mask(i); // no action yet: the line is shut down
        }
    }

    public irq_desc? irq_to_desc(uint irq) => irq < descs.Length ? descs[irq] : null;

    // ---- Requesting (kernel/irq/manage.c request_threaded_irq, __setup_irq) ----

    public int request_irq(uint irq, irq_handler_t handler, ulong flags, string name, object? dev) =>
        request_threaded_irq(irq, handler, null, flags, name, dev);

    public int request_threaded_irq(uint irq, irq_handler_t? handler, irq_handler_t? thread_fn, ulong flags, string name, object? dev)
    {
        if (irq == IRQ_NOTCONNECTED)
            return -ENOTCONN;
        // "Sanity-check: shared interrupts must pass in a real dev-ID, otherwise we'll have trouble later
        // trying to disable the irq." Also IRQF_COND_SUSPEND and IRQF_NO_AUTOEN combinations.
        if (((flags & IRQF_SHARED) != 0 && dev is null)
            || ((flags & IRQF_SHARED) != 0 && (flags & IRQF_NO_AUTOEN) != 0)
            || ((flags & IRQF_SHARED) == 0 && (flags & IRQF_COND_SUSPEND) != 0)
            || ((flags & IRQF_NO_SUSPEND) != 0 && (flags & IRQF_COND_SUSPEND) != 0))
            return -EINVAL;
        var desc = irq_to_desc(irq);
        if (desc is null)
            return -EINVAL;
        var m = M;
        if (handler is null)
        {
            if (thread_fn is null)
                return -EINVAL;
            handler = irq_default_primary_handler;
            // "Threaded irq requested with handler=NULL and !ONESHOT for irq %d"
            if ((flags & IRQF_ONESHOT) == 0)
            {
                m.Log.Append(3, $"genirq: Threaded irq requested with handler=NULL and !ONESHOT for {name} (irq {irq})");
                return -EINVAL;
            }
        }

        var action = new irqaction
        {
            handler = handler,
            thread_fn = thread_fn,
            flags = flags,
            name = name ?? "",
            dev_id = dev,
            irq = irq,
        };
        return SetupIrq(m, desc, action);
    }

    private static irqreturn_t irq_default_primary_handler(int irq, object? dev_id) => IRQ_WAKE_THREAD;

    private int SetupIrq(Machine m, irq_desc desc, irqaction action)
    {
        bool shared = false;
        ulong threadMask = 0;
        if (desc.action is { } old)
        {
            // Both must agree on sharing, trigger type, ONESHOT and PERCPU.
            bool mismatch = (old.flags & action.flags & IRQF_SHARED) == 0
                || desc.trigger_type != (action.flags & IRQF_TRIGGER_MASK)
                || ((old.flags ^ action.flags) & IRQF_ONESHOT) != 0
                || ((old.flags ^ action.flags) & IRQF_PERCPU) != 0;
            if (mismatch)
            {
                if ((action.flags & IRQF_PROBE_SHARED) == 0)
                {
                    m.Log.Append(3, string.Create(CultureInfo.InvariantCulture,
                        $"genirq: Flags mismatch irq {desc.irq}. {action.flags:x8} ({action.name}) vs. {old.flags:x8} ({old.name})"));
                }
                return -EBUSY;
            }
            for (var a = desc.action; a is not null; a = a.next)
                threadMask |= a.thread_mask;
            shared = true;
        }

        if ((action.flags & IRQF_ONESHOT) != 0)
        {
            // Each ONESHOT sharer gets its own bit of threads_oneshot.
            if (threadMask == ulong.MaxValue)
                return -EBUSY;
            action.thread_mask = 1UL << System.Numerics.BitOperations.TrailingZeroCount(~threadMask);
        }

        if (action.thread_fn is not null)
        {
            var a = action;
            var d = desc;
            var task = m.SpawnTask($"irq/{desc.irq}-{action.name}", () => IrqThread(d, a), kernelThread: true);
            action.thread = task.Task;
        }

        if (!shared)
        {
            desc.action = action;
            desc.trigger_type = action.flags & IRQF_TRIGGER_MASK;
            desc.istate &= ~(IRQS_ONESHOT | IRQS_SPURIOUS_DISABLED | IRQS_PENDING);
            if ((action.flags & IRQF_ONESHOT) != 0)
                desc.istate |= IRQS_ONESHOT;
            desc.threads_oneshot = 0;
            if ((action.flags & IRQF_NO_AUTOEN) != 0)
            {
                desc.depth = 1; // stays disabled until enable_irq
            }
            else
            {
                desc.depth = 0; // irq_startup
                Arch.irq_chip_unmask(desc.irq);
            }
        }
        else
        {
            var tail = desc.action!;
            while (tail.next is not null)
                tail = tail.next;
            tail.next = action;
            if ((desc.istate & IRQS_SPURIOUS_DISABLED) != 0)
            {
                desc.istate &= ~IRQS_SPURIOUS_DISABLED;
                EnableIrq(m, desc);
            }
        }
        // "Reset broken irq detection when installing new handler"
        desc.irq_count = 0;
        desc.irqs_unhandled = 0;
        return 0;
    }

    // ---- Freeing (__free_irq) ----

    public string? free_irq(uint irq, object? dev_id)
    {
        var m = M;
        var desc = irq_to_desc(irq);
        if (desc is null)
            return null;
        if ((m.CurrentCpu.PreemptCount & (HARDIRQ_MASK | SOFTIRQ_OFFSET | NMI_MASK)) != 0)
        {
            m.Warn($"Trying to free IRQ {irq} from IRQ context!", "__free_irq", ReportKind.IrqWarning);
            return null;
        }
        irqaction? prev = null;
        var action = desc.action;
        while (action is not null && !ReferenceEquals(action.dev_id, dev_id))
        {
            prev = action;
            action = action.next;
        }
        if (action is null)
        {
            m.Warn($"Trying to free already-free IRQ {irq}", "__free_irq", ReportKind.IrqWarning);
            return null;
        }
        if (prev is null)
            desc.action = action.next;
        else
            prev.next = action.next;

        if (desc.action is null)
        {
            // irq_shutdown: mask; depth is left as it was (irq_free_disabled_test).
            Arch.irq_chip_mask(irq);
            desc.istate &= ~IRQS_PENDING;
        }
        // Make sure it's not being used on another CPU (synchronize_hardirq).
        WaitForHardirqs(m, desc);
        if (action.thread is not null)
        {
            m.Scheduler.kthread_stop(action.thread);
            action.thread = null;
        }
        // A ONESHOT bit owned by the freed action must not keep the line masked.
        if (action.thread_mask != 0 && (desc.threads_oneshot & action.thread_mask) != 0)
        {
            desc.threads_oneshot &= ~action.thread_mask;
            MaybeUnmask(desc);
        }
        return action.name;
    }

    // ---- Disable depth (__disable_irq, __enable_irq) ----

    public void disable_irq_nosync(uint irq)
    {
        var desc = irq_to_desc(irq);
        if (desc is null)
            return;
        if (desc.depth++ == 0)
            Arch.irq_chip_mask(irq); // irq_disable: mask only on the first disable
    }

    public void disable_irq(uint irq)
    {
        var desc = irq_to_desc(irq);
        if (desc is null)
            return;
        disable_irq_nosync(irq);
        if (desc.action is not null)
            synchronize_irq(irq);
    }

    public void enable_irq(uint irq)
    {
        var desc = irq_to_desc(irq);
        if (desc is null)
            return;
        EnableIrq(M, desc);
    }

    private void EnableIrq(Machine m, irq_desc desc)
    {
        switch (desc.depth)
        {
            case 0:
                m.Warn($"Unbalanced enable for IRQ {desc.irq}", "__enable_irq", ReportKind.IrqWarning);
                break;
            case 1:
                desc.depth = 0;
                if (desc.action is null)
                    break;
                MaybeUnmask(desc);
                // check_irq_resend: replay an interrupt that arrived while the line was disabled.
                if ((desc.istate & IRQS_PENDING) != 0)
                {
                    desc.istate &= ~IRQS_PENDING;
                    Arch.irq_retrigger(desc.irq);
                }
                break;
            default:
                desc.depth--;
                break;
        }
    }

    private static void MaybeUnmask(irq_desc desc)
    {
        if (desc.action is not null && desc.depth == 0 && desc.threads_oneshot == 0)
            Arch.irq_chip_unmask(desc.irq);
    }

    // ---- Waiting (synchronize_irq) ----

    public void synchronize_irq(uint irq)
    {
        var desc = irq_to_desc(irq);
        if (desc is null)
            return;
        var m = M;
        if (!WaitForHardirqs(m, desc))
            return;
        // wait_event(desc->wait_for_threads, !atomic_read(&desc->threads_active))
        while (desc.threads_active > 0)
        {
            if ((m.CurrentCpu.PreemptCount & (HARDIRQ_MASK | SOFTIRQ_OFFSET | NMI_MASK)) != 0)
            {
                m.Warn($"synchronize_irq({irq}) in interrupt context waits for a threaded handler: it can never finish", "synchronize_irq", ReportKind.IrqWarning);
                return;
            }
            m.CurrentTask.__state = TASK_UNINTERRUPTIBLE;
            m.ScheduleTimeout(1, "synchronize_irq");
        }
    }

    /// <summary>synchronize_hardirq: spins until no CPU but this one runs a handler of the line; false when it would wait for itself.</summary>
    private static bool WaitForHardirqs(Machine m, irq_desc desc)
    {
        var state = StateOf(desc);
        ulong self = 1UL << m.CurrentSim.Cpu;
        if ((state.CpusRunning & self) != 0)
        {
            m.Warn($"synchronize_irq({desc.irq}) called from a handler of IRQ {desc.irq}: it waits for itself (deadlock)", "synchronize_irq", ReportKind.IrqWarning);
            return false;
        }
        int spins = 0;
        while (state.CpusRunning != 0)
        {
            if (++spins > m.Config.SpinLockupThreshold)
            {
                m.Warn($"synchronize_irq({desc.irq}): a handler never finished", "synchronize_irq", ReportKind.IrqWarning);
                return false;
            }
            m.Relax();
        }
        return true;
    }

    // ---- Dispatch (kernel/irq/chip.c handle_*_irq, kernel/irq/handle.c) ----

    public int generic_handle_irq(uint irq)
    {
        var desc = irq_to_desc(irq);
        if (desc is null)
            return -EINVAL;
        var m = M;
        desc.kstat_irqs++;
        var state = StateOf(desc);
        if (desc.action is null || desc.depth > 0 || state.CpusRunning != 0)
        {
            // Disabled, unhandled or in progress elsewhere: remember it and mask (replayed later).
            desc.istate |= IRQS_PENDING;
            Arch.irq_chip_mask(irq);
            return 0;
        }
        bool oneshot = (desc.istate & IRQS_ONESHOT) != 0;
        if (oneshot)
            Arch.irq_chip_mask(irq); // mask_ack_irq: stays masked until the threads finish
        var cpu = m.CurrentCpu;
        ulong self = 1UL << cpu.Id;
        do
        {
            desc.istate &= ~IRQS_PENDING;
            state.CpusRunning |= self;
            desc.handlers_running++;
            irqreturn_t retval;
            try
            {
                retval = HandleIrqEventPercpu(m, desc, cpu);
            }
            finally
            {
                state.CpusRunning &= ~self;
                desc.handlers_running--;
            }
            NoteInterrupt(m, desc, retval);
        }
        while ((desc.istate & IRQS_PENDING) != 0 && desc.depth == 0 && desc.action is not null);

        if (!oneshot || desc.threads_oneshot == 0)
            MaybeUnmask(desc);
        return 0;
    }

    /// <summary>__handle_irq_event_percpu: every action, in registration order; the result is the OR.</summary>
    private irqreturn_t HandleIrqEventPercpu(Machine m, irq_desc desc, Cpu cpu)
    {
        irqreturn_t retval = IRQ_NONE;
        for (var action = desc.action; action is not null; action = action.next)
        {
            var res = action.handler!(checked((int)desc.irq), action.dev_id);
            if (cpu.IrqsEnabled)
            {
                if (m.ReportOnce($"irq-enabled-interrupts:{action.handler.Method}"))
                    m.Warn($"irq {desc.irq} handler {action.handler.Method.Name} enabled interrupts", "__handle_irq_event_percpu", ReportKind.IrqWarning);
                cpu.IrqsEnabled = false;
            }
            if ((res & IRQ_WAKE_THREAD) != 0)
            {
                if (action.thread_fn is null)
                {
                    // warn_no_thread
                    if (m.ReportOnce($"irq-no-thread:{desc.irq}:{action.name}"))
                        m.Warn($"irq {desc.irq} device {action.name} returned IRQ_WAKE_THREAD but no thread function available.", "warn_no_thread", ReportKind.IrqWarning);
                }
                else
                {
                    WakeThread(m, desc, action);
                }
            }
            retval |= res;
        }
        return retval;
    }

    /// <summary>__irq_wake_thread.</summary>
    private static void WakeThread(Machine m, irq_desc desc, irqaction action)
    {
        if (action.thread is null || action.thread_pending)
            return; // IRQTF_RUNTHREAD already set: the thread will run anyway
        action.thread_pending = true;
        desc.threads_oneshot |= action.thread_mask;
        desc.threads_active++;
        m.Wake(action.thread.sim);
    }

    /// <summary>irq_thread: process context, runs the thread function each time the primary handler asks.</summary>
    private static int IrqThread(irq_desc desc, irqaction action)
    {
        var m = Machine.Current;
        var self = m.CurrentSim;
        while (true)
        {
            if (!action.thread_pending)
            {
                if (self.ShouldStop)
                    return 0;
                self.Task.__state = TASK_INTERRUPTIBLE;
                m.Schedule("irq_thread");
                continue;
            }
            action.thread_pending = false; // test_and_clear_bit(IRQTF_RUNTHREAD)
            var cpu = m.CurrentCpu;
            int before = cpu.PreemptCount;
            try
            {
                action.thread_fn!(checked((int)desc.irq), action.dev_id);
            }
            catch (Exception ex) when (ex is not TaskKilledException and not KernelOopsException)
            {
                m.Report(ReportKind.Oops, $"Oops: unhandled {ex.GetType().Name} in threaded handler of irq {desc.irq} ({action.name}): {ex.Message}", null, exception: ex);
            }
            cpu = m.CurrentCpu;
            if (cpu.PreemptCount != before || !cpu.IrqsEnabled)
            {
                m.Report(ReportKind.PreemptCountLeak,
                    $"irq/{desc.irq}-{action.name}: threaded handler {action.thread_fn!.Method.Name} leaked preempt_count {before:x8} -> {cpu.PreemptCount:x8} or disabled interrupts");
                cpu.PreemptCount = before;
                cpu.IrqsEnabled = true;
            }
            // irq_finalize_oneshot
            if (action.thread_mask != 0 && (desc.threads_oneshot & action.thread_mask) != 0)
            {
                desc.threads_oneshot &= ~action.thread_mask;
                if (desc.threads_oneshot == 0 && StateOf(desc).CpusRunning == 0)
                    MaybeUnmask(desc);
            }
            desc.threads_active--;
        }
    }

    // ---- Spurious detection (kernel/irq/spurious.c note_interrupt) ----

    private static void NoteInterrupt(Machine m, irq_desc desc, irqreturn_t action_ret)
    {
        if ((uint)action_ret > (uint)(IRQ_HANDLED | IRQ_WAKE_THREAD))
        {
            m.Log.Append(3, string.Create(CultureInfo.InvariantCulture, $"irq event {desc.irq}: bogus return value {(uint)action_ret:x}"));
            return;
        }
        if (action_ret == IRQ_NONE)
        {
            ulong now = m.Jiffies;
            // time_after(jiffies, desc->last_unhandled + HZ/10)
            if ((long)(desc.last_unhandled + HZ / 10 - now) < 0)
                desc.irqs_unhandled = 1;
            else
                desc.irqs_unhandled++;
            desc.last_unhandled = now;
        }
        if (desc.irqs_unhandled == 0)
            return;
        if (++desc.irq_count < SpuriousWindow)
            return;
        desc.irq_count = 0;
        if (desc.irqs_unhandled > SpuriousThreshold)
        {
            ReportBadIrq(m, desc, action_ret);
            desc.istate |= IRQS_SPURIOUS_DISABLED;
            desc.depth++;
            Arch.irq_chip_mask(desc.irq);
        }
        desc.irqs_unhandled = 0;
    }

    private static void ReportBadIrq(Machine m, irq_desc desc, irqreturn_t action_ret)
    {
        var details = new List<string> { "handlers:" };
        for (var a = desc.action; a is not null; a = a.next)
        {
            var thread = a.thread_fn is null ? "" : $" threaded [<{a.thread_fn.Method.Name}>]";
            details.Add($"[<{a.handler?.Method.Name}>] {a.name}{thread}");
        }
        details.Add($"Disabling IRQ #{desc.irq}");
        m.Report(ReportKind.IrqNobodyCared,
            $"irq {desc.irq}: nobody cared (try booting with the \"irqpoll\" option)", details, "__report_bad_irq");
        _ = action_ret;
    }
}
