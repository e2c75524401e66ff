// A four-bank GPIO controller: one IRQ and one aux IRQ per bank, debounce timers, a debounce kthread, notify work, edge wait queues.
// Holds: current and current.mm in IRQ, timer, kthread and work contexts, shared lines with null cookies, mismatched free_irq, handlers that claim everything.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5NGpioBank;

public sealed class GpioRegs
{
    public uint summary;
    public uint wake;
}

public sealed class GpioBank
{
    public readonly int id;
    public readonly uint irq;
    public readonly uint aux_irq;
    public readonly spinlock_t bank_lock = new();
    public readonly timer_list debounce_timer = new();
    public readonly work_struct notify_work = new();
    public readonly wait_queue_head_t edge_wq = new();
    public uint pending;
    public uint aux_status;
    public uint mask = 0xFFFFFFFF;
    public uint level;
    public ulong stable_until;
    public ulong debounce = msecs_to_jiffies(5);
    public int edges;
    public int kernel_hits;
    public bool edge_seen;
    public bool armed;
    public int last_pid;
    public int ctx_pid;

    public GpioBank(int id, uint irq, uint aux_irq)
    {
        this.id = id;
        this.irq = irq;
        this.aux_irq = aux_irq;
    }

    public int enable()
    {
        return request_irq(irq, bank_isr, IRQF_SHARED, "gpio-bank", this); // ok: KH4001 the bank object itself is the cookie
    }

    public void disable()
    {
        free_irq(irq, this); // ok: KH4002 same dev_id (this) as enable()
    }

    public bool aux_pending() => (aux_status & 0x1) != 0;

    // Hard IRQ: latch the edges of this bank and start the debounce window.
    private irqreturn_t bank_isr(int irq_no, object? dev_id)
    {
        uint hit = pending & mask;
        if (hit == 0)
            return IRQ_NONE;
        spin_lock(bank_lock);
        pending &= ~hit;
        edges++;
        armed = true;
        stable_until = jiffies + debounce;
        spin_unlock(bank_lock);
        last_pid = current.pid; // expect: KH4003 (bank_isr is a hard-IRQ handler; current is the interrupted task)
        ctx_pid = in_task() ? current.pid : -1; // ok: KH4003 the read sits in the true arm of an in_task() conditional
        udelay(5); // ok: KH1001 udelay busy-waits, allowed in hard-IRQ context
        usleep_range(10, 20); // expect: KH1001 (usleep_range sleeps; bank_isr runs in hard-IRQ context)
        mod_timer(debounce_timer, stable_until);
        return IRQ_HANDLED;
    }
}

public sealed class GpioController
{
    private const int NR_BANKS = 4;
    private static readonly percpu<long> pwr_hits = DEFINE_PER_CPU<long>();
    private static readonly irq_handler_t spurious_ack = spurious_isr;
    private readonly GpioBank[] banks = new GpioBank[NR_BANKS];
    private readonly GpioRegs regs = new();
    private task_struct? debouncer;
    private uint summary_irq;
    private uint wake_irq;
    private uint hotplug_irq;
    private uint pwr_irq;
    private uint test_irq;
    private uint ctrl_irq;
    private uint legacy_irq;
    private uint hp_status;
    private int hp_events;
    private int owner;
    private ulong owner_stack;
    private ulong code_size;
    private ulong notify_vm;
    private bool lazy;

    public int probe(uint first_irq, uint aux_base, uint[] lines)
    {
        summary_irq = lines[0];
        wake_irq = lines[1];
        hotplug_irq = lines[2];
        pwr_irq = lines[3];
        test_irq = lines[4];
        ctrl_irq = lines[5];
        legacy_irq = lines[6];
        for (int i = 0; i < NR_BANKS; i++)
        {
            var bank = new GpioBank(i, first_irq + (uint)i, aux_base + (uint)i);
            INIT_WORK(bank.notify_work, w => notify_user(bank));
            timer_setup(bank.debounce_timer, debounce_fn, 0);
            banks[i] = bank;
        }
        for (int i = 0; i < NR_BANKS; i++)
        {
            int err = banks[i].enable();
            if (err != 0)
            {
                while (--i >= 0)
                    banks[i].disable();
                return err;
            }
        }
        for (int i = 0; i < NR_BANKS; i++)
        {
            int err = request_irq(banks[i].aux_irq, (irq, dev) => dev is GpioBank b && b.aux_pending() ? IRQ_HANDLED : IRQ_NONE, IRQF_SHARED, "gpio-aux", banks[i]); // ok: KH4004 the lambda reads the bank passed as dev_id and can return IRQ_NONE
            if (err != 0)
                return err;
        }
        int ret = request_irq(summary_irq, summary_isr, IRQF_SHARED, "gpio-summary", regs); // ok: KH4004 summary_isr reads the GpioRegs passed as dev_id
        if (ret == 0)
            ret = request_irq(wake_irq, (irq, dev) => regs.wake != 0 ? ack_wake() : IRQ_NONE, IRQF_SHARED | IRQF_TRIGGER_FALLING, "gpio-wake", null); // expect: KH4001 (IRQF_SHARED with a null dev_id)
        if (ret == 0)
            ret = request_threaded_irq(hotplug_irq, hotplug_hard, hotplug_thread, IRQF_SHARED | IRQF_ONESHOT, "gpio-hotplug", null); // expect: KH4001 (shared threaded IRQ with a null dev_id)
        if (ret == 0)
            ret = request_irq(pwr_irq, (irq, dev) => { this_cpu_inc(pwr_hits); return IRQ_HANDLED; }, IRQF_SHARED, "gpio-pwr", this); // expect: KH4004 (the lambda returns IRQ_HANDLED on every path and never looks at the device)
        if (ret == 0)
            ret = request_irq(test_irq, spurious_ack, IRQF_SHARED, "gpio-test", this); // expect: KH4004 (the field-stored handler spurious_isr always returns IRQ_HANDLED without reading device state)
        if (ret == 0)
            ret = request_irq(ctrl_irq, (irq, dev) => IRQ_HANDLED, IRQF_TRIGGER_RISING, "gpio-ctrl", this); // ok: KH4004 not IRQF_SHARED: an exclusive line may claim every interrupt
        if (ret == 0)
            ret = request_irq(legacy_irq, legacy_isr, IRQF_TRIGGER_LOW, "gpio-legacy", null); // ok: KH4001 exclusive line: a null dev_id is allowed without IRQF_SHARED
        if (ret != 0)
            return ret;
        debouncer = kthread_run(debounce_thread, this, "gpio-debounce");
        return 0;
    }

    private static irqreturn_t summary_isr(int irq, object? dev_id)
    {
        if (dev_id is not GpioRegs r || r.summary == 0)
            return IRQ_NONE;
        r.summary = 0;
        return IRQ_HANDLED;
    }

    private irqreturn_t ack_wake()
    {
        regs.wake = 0;
        return IRQ_HANDLED;
    }

    private static irqreturn_t spurious_isr(int irq, object? dev_id) => IRQ_HANDLED;

    private static irqreturn_t legacy_isr(int irq, object? dev_id) => IRQ_HANDLED;

    private irqreturn_t hotplug_hard(int irq, object? dev_id)
    {
        if ((hp_status & 0x3) == 0)
            return IRQ_NONE;
        return IRQ_WAKE_THREAD;
    }

    // thread_fn: process context.
    private irqreturn_t hotplug_thread(int irq, object? dev_id)
    {
        hp_status = 0;
        hp_events++;
        msleep(2);
        return IRQ_HANDLED;
    }

    private GpioBank? find_by_timer(timer_list t)
    {
        foreach (var b in banks)
            if (b.debounce_timer == t)
                return b;
        return null;
    }

    // Timer (softirq): the debounce window of one bank.
    private void debounce_fn(timer_list t)
    {
        var b = find_by_timer(t);
        if (b == null)
            return;
        if (current.mm == init_mm) // expect: KH4003, KH6001 (current read in a timer callback; and init_mm is never a task's mm)
            b.kernel_hits++;
        if (b.stable_until > jiffies) // expect: KH5001 (raw > between the bank's debounce deadline and jiffies)
        {
            mod_timer(b.debounce_timer, b.stable_until);
            return;
        }
        settle(b);
    }

    private void settle(GpioBank b)
    {
        spin_lock_irqsave(b.bank_lock, out ulong flags);
        b.level ^= b.pending;
        b.edge_seen = true;
        b.armed = false;
        spin_unlock_irqrestore(b.bank_lock, flags);
        wake_up_interruptible(b.edge_wq);
    }

    // Kernel thread: settles banks whose window has passed.
    private int debounce_thread(object? data)
    {
        pr_info("gpio: debounce thread " + current.comm); // ok: KH4003 a kernel thread runs in process context
        var scratch = kzalloc(64, GFP_ATOMIC); // expect: KH1003 (a kernel thread runs in process context with nothing held)
        if (scratch == NULL)
            return -ENOMEM;
        owner_stack = stack_hint();
        lazy = current.active_mm != init_mm; // ok: KH6001 active_mm, not mm, is compared with init_mm
        while (!kthread_should_stop())
        {
            foreach (var b in banks)
            {
                if (b.armed && !time_before(jiffies, b.stable_until)) // ok: KH5001 time_before() is wrap-safe
                    settle(b);
            }
            code_size = owner_code_size();
            msleep(10);
        }
        kfree(scratch);
        return 0;
    }

    private static ulong stack_hint() => current.mm.start_stack; // expect: KH6002 (called from the debounce kthread; no null check of current.mm)

    private static ulong owner_code_size()
    {
        if (current.mm is null) // ok: KH6001 the correct kernel-thread test
            return 0;
        return current.mm.end_code - current.mm.start_code; // ok: KH6002 the function tests current.mm against null first
    }

    // Work item, one per bank (registered through a lambda).
    private void notify_user(GpioBank b)
    {
        notify_vm = current.mm.total_vm; // expect: KH6002 (reached from a work item, whose kworker has mm == null; no null check)
        pr_info("gpio: bank " + b.id + " changed");
    }

    // ioctl of the user task that owns the controller.
    public ulong owner_vm() => current.mm.total_vm; // ok: KH6002 only reached from the ioctl path of a user task, not from a kthread or work item

    public int claim_line(int bank, int line)
    {
        owner = current.mm != init_mm ? current.pid : 0; // expect: KH6001 (always true: a kernel thread has mm == null, not init_mm)
        if (bank < 0 || bank >= NR_BANKS)
            return -EINVAL;
        var buf = kzalloc(16, GFP_ATOMIC); // ok: KH1003 public method with unknown callers
        if (buf == NULL)
            return -ENOMEM;
        kfree(buf);
        schedule_work(banks[bank].notify_work);
        return 0;
    }

    private static bool is_kernel_pgd(mm_struct mm) => mm == init_mm; // ok: KH6001 an mm_struct parameter compared with init_mm

    public int dump_tables(mm_struct mm) => is_kernel_pgd(mm) ? -EPERM : mm.map_count;

    private bool edge_seen(GpioBank b)
    {
        spin_lock_irqsave(b.bank_lock, out ulong flags);
        bool seen = b.edge_seen;
        b.edge_seen = false;
        spin_unlock_irqrestore(b.bank_lock, flags);
        return seen;
    }

    // Wait up to three wake-ups for an edge.
    public int wait_edge_budget(int bank)
    {
        var b = banks[bank];
        var wait = DEFINE_WAIT();
        int budget = 3;
        do
        {
            prepare_to_wait(b.edge_wq, wait, TASK_INTERRUPTIBLE);
            schedule(); // expect: KH5002 (the do/while tests only a local countdown, never edge_seen(b))
        } while (--budget > 0);
        finish_wait(b.edge_wq, wait);
        return edge_seen(b) ? 0 : -EAGAIN;
    }

    public int wait_edge(int bank)
    {
        var b = banks[bank];
        long left = wait_event_interruptible_timeout(b.edge_wq, () => edge_seen(b), (long)HZ); // ok: KH5002 wait_event_* re-tests edge_seen() by itself
        return left > 0 ? 0 : -EAGAIN;
    }

    public void remove()
    {
        if (debouncer != null)
            kthread_stop(debouncer);
        free_irq(summary_irq, this); // expect: KH4002 (summary_irq is requested only with regs as dev_id)
        free_irq(wake_irq, null);
        free_irq(hotplug_irq, regs); // expect: KH4002 (hotplug_irq is requested only with a null dev_id)
        free_irq(pwr_irq, this);
        free_irq(test_irq, this);
        free_irq(ctrl_irq, this);
        free_irq(legacy_irq, null);
        for (int i = 0; i < NR_BANKS; i++)
        {
            free_irq(banks[i].aux_irq, banks[i]); // ok: KH4002 the same dev_id expression as the request loop
            banks[i].disable();
            del_timer_sync(banks[i].debounce_timer);
            cancel_work_sync(banks[i].notify_work);
        }
    }
}
