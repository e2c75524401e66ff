using KernelHarness;
using KernelHarness.Runtime;
using KernelHarness.Subsystems;
using static KernelHarness.Kernel;

namespace Student.Irq.EnableUnmasksAtAnyDepth;

// Example submission "enable-unmasks-at-any-depth": enable_irq unmasks the line on every call, not only when depth reaches 0
/// <summary>
/// Interrupt lines and handlers: kernel/irq/manage.c (request, free, disable depth, threads) and
/// kernel/irq/spurious.c (note_interrupt), on top of the simulated interrupt controller (Arch).
/// </summary>
public sealed class StudentIrq : IIrq
{
    private irq_desc[] descs = System.Array.Empty<irq_desc>();

    public void early_irq_init()
    {
        descs = new irq_desc[Arch.nr_irqs];
        for (uint i = 0; i < descs.Length; i++)
        {
            descs[i] = new irq_desc(i) { depth = 1 };
            Arch.irq_chip_mask(i);
        }
    }

    public irq_desc? irq_to_desc(uint irq) => irq < descs.Length ? descs[irq] : null;

    public int request_irq(uint irq, irq_handler_t handler, ulong flags, string name, object? dev) =>
        request_threaded_irq(irq, handler, null, flags, name, dev);

    public int request_threaded_irq(uint irq, irq_handler_t? handler, irq_handler_t? thread_fn, ulong flags, string name, object? dev)
    {
        var desc = irq_to_desc(irq);
        if (desc is null)
            return -EINVAL;
        if ((flags & IRQF_SHARED) != 0 && (dev is null || (flags & IRQF_NO_AUTOEN) != 0))
            return -EINVAL;
        if (handler is null)
        {
            if (thread_fn is null || (flags & IRQF_ONESHOT) == 0)
                return -EINVAL;
            handler = (i, d) => IRQ_WAKE_THREAD;
        }
        var action = new irqaction { handler = handler, thread_fn = thread_fn, flags = flags, name = name, dev_id = dev, irq = irq };

        ulong used = 0;
        if (desc.action is not null)
        {
            var old = desc.action;
            // SHARING RULE
            bool ok = (old.flags & flags & IRQF_SHARED) != 0
                && desc.trigger_type == (flags & IRQF_TRIGGER_MASK)
                && ((old.flags ^ flags) & IRQF_ONESHOT) == 0;
            if (!ok)
                return -EBUSY;
            for (var a = desc.action; a is not null; a = a.next)
                used |= a.thread_mask;
        }
        if ((flags & IRQF_ONESHOT) != 0)
        {
            if (used == ulong.MaxValue)
                return -EBUSY;
            action.thread_mask = 1UL << System.Numerics.BitOperations.TrailingZeroCount(~used);
        }
        if (thread_fn is not null)
            action.thread = kthread_run(_ => irq_thread(desc, action), null, $"irq/{irq}-{name}");

        if (desc.action is null)
        {
            desc.action = action;
            desc.trigger_type = flags & IRQF_TRIGGER_MASK;
            desc.istate = (flags & IRQF_ONESHOT) != 0 ? IRQS_ONESHOT : 0;
            desc.threads_oneshot = 0;
            if ((flags & IRQF_NO_AUTOEN) != 0)
            {
                desc.depth = 1;
            }
            else
            {
                desc.depth = 0;
                Arch.irq_chip_unmask(irq);
            }
        }
        else
        {
            var tail = desc.action;
            while (tail.next is not null)
                tail = tail.next;
            tail.next = action;
            if ((desc.istate & IRQS_SPURIOUS_DISABLED) != 0)
            {
                desc.istate &= ~IRQS_SPURIOUS_DISABLED;
                enable_irq(irq);
            }
        }
        desc.irq_count = 0;
        desc.irqs_unhandled = 0;
        return 0;
    }

    public string? free_irq(uint irq, object? dev_id)
    {
        var desc = irq_to_desc(irq);
        if (desc is null)
            return null;
        // FIND ACTION
        irqaction? prev = null;
        var action = desc.action;
        while (action is not null && action.dev_id != dev_id)
        {
            prev = action;
            action = action.next;
        }
        if (action is null)
        {
            WARN(true, $"Trying to free already-free IRQ {irq}");
            return null;
        }
        if (prev is null)
            desc.action = action.next;
        else
            prev.next = action.next;
        // END FIND ACTION
        if (desc.action is null)
        {
            Arch.irq_chip_mask(irq);
            desc.istate &= ~IRQS_PENDING;
        }
        while (desc.handlers_running > 0)
            cpu_relax();
        if (action.thread is not null)
            kthread_stop(action.thread);
        if ((desc.threads_oneshot & action.thread_mask) != 0)
        {
            desc.threads_oneshot &= ~action.thread_mask;
            unmask_if_ready(desc);
        }
        return action.name;
    }

    public void disable_irq_nosync(uint irq)
    {
        var desc = irq_to_desc(irq);
        if (desc is not null && desc.depth++ == 0)
            Arch.irq_chip_mask(irq);
    }

    public void disable_irq(uint irq)
    {
        disable_irq_nosync(irq);
        synchronize_irq(irq);
    }

    public void enable_irq(uint irq)
    {
        var desc = irq_to_desc(irq);
        if (desc is null)
            return;
        // ENABLE
        if (desc.depth == 0)
        {
            WARN(true, $"Unbalanced enable for IRQ {irq}");
            return;
        }
        desc.depth--;
        Arch.irq_chip_unmask(irq);
        if (desc.depth == 0)
        {
            if ((desc.istate & IRQS_PENDING) != 0 && desc.action is not null)
            {
                desc.istate &= ~IRQS_PENDING;
                Arch.irq_retrigger(irq);
            }
        }
        // END ENABLE
    }

    public void synchronize_irq(uint irq)
    {
        var desc = irq_to_desc(irq);
        if (desc is null)
            return;
        // SYNCHRONIZE
        while (desc.handlers_running > 0)
            cpu_relax();
        while (desc.threads_active > 0)
            msleep(1);
        // END SYNCHRONIZE
    }

    private static void unmask_if_ready(irq_desc desc)
    {
        if (desc.action is not null && desc.depth == 0 && desc.threads_oneshot == 0)
            Arch.irq_chip_unmask(desc.irq);
    }

    public int generic_handle_irq(uint irq)
    {
        var desc = irq_to_desc(irq);
        if (desc is null)
            return -EINVAL;
        desc.kstat_irqs++;
        if (desc.action is null || desc.depth > 0 || desc.handlers_running > 0)
        {
            desc.istate |= IRQS_PENDING;
            Arch.irq_chip_mask(irq);
            return 0;
        }
        bool oneshot = (desc.istate & IRQS_ONESHOT) != 0;
        if (oneshot)
            Arch.irq_chip_mask(irq);
        do
        {
            desc.istate &= ~IRQS_PENDING;
            desc.handlers_running++;
            irqreturn_t ret = IRQ_NONE;
            for (var a = desc.action; a is not null; a = a.next)
            {
                var r = a.handler!((int)irq, a.dev_id);
                // WAKE THREAD
                if ((r & IRQ_WAKE_THREAD) != 0 && a.thread is not null && !a.thread_pending)
                {
                    a.thread_pending = true;
                    desc.threads_oneshot |= a.thread_mask;
                    desc.threads_active++;
                    wake_up_process(a.thread);
                }
                // END WAKE THREAD
                ret |= r;
                // AFTER HANDLER
            }
            desc.handlers_running--;
            note_interrupt(desc, ret);
        }
        while ((desc.istate & IRQS_PENDING) != 0 && desc.depth == 0 && desc.action is not null);
        // UNMASK AFTER HANDLERS
        if (!oneshot || desc.threads_oneshot == 0)
            unmask_if_ready(desc);
        return 0;
    }

    // kernel/irq/spurious.c
    private static void note_interrupt(irq_desc desc, irqreturn_t ret)
    {
        if (ret == IRQ_NONE)
        {
            ulong now = jiffies;
            if (time_after(now, desc.last_unhandled + HZ / 10))
                desc.irqs_unhandled = 1;
            else
                desc.irqs_unhandled++;
            desc.last_unhandled = now;
        }
        if (desc.irqs_unhandled == 0)
            return;
        if (++desc.irq_count < 100_000)
            return;
        desc.irq_count = 0;
        // THRESHOLD
        if (desc.irqs_unhandled > 99_900)
        {
            pr_err($"irq {desc.irq}: nobody cared (try booting with the \"irqpoll\" option)");
            pr_err("handlers:");
            for (var a = desc.action; a is not null; a = a.next)
                pr_err($"[<{a.name}>] {a.name}{(a.thread_fn is null ? "" : " threaded")}");
            pr_err($"Disabling IRQ #{desc.irq}");
            desc.istate |= IRQS_SPURIOUS_DISABLED;
            desc.depth++;
            Arch.irq_chip_mask(desc.irq);
        }
        // RESET
        desc.irqs_unhandled = 0;
    }

    private static int irq_thread(irq_desc desc, irqaction action)
    {
        while (true)
        {
            set_current_state(TASK_INTERRUPTIBLE);
            if (action.thread_pending)
            {
                __set_current_state(TASK_RUNNING);
                action.thread_pending = false;
                action.thread_fn!((int)desc.irq, action.dev_id);
                desc.threads_oneshot &= ~action.thread_mask;
                if (desc.handlers_running == 0)
                    unmask_if_ready(desc);
                desc.threads_active--;
                continue;
            }
            if (kthread_should_stop())
            {
                __set_current_state(TASK_RUNNING);
                return 0;
            }
            schedule();
        }
    }
}
