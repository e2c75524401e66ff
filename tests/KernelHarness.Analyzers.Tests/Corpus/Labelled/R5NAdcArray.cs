// An eight-channel ADC: one threaded IRQ per channel, a poller kthread for stuck conversions, per-channel wait queues.
// Holds: a shared threaded line with a null cookie, current in the hard half, GFP_ATOMIC in a thread_fn, init_mm and current.mm in the poller.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.R5NAdcArray;

public sealed class AdcChannel
{
    public readonly int id;
    public readonly uint irq;
    public readonly AdcArray adc;
    public readonly spinlock_t ch_lock = new();
    public readonly wait_queue_head_t done_wq = new();
    public uint status;
    public int sample;
    public bool done;
    public ulong started;
    public ulong deadline;
    public ulong timeout = msecs_to_jiffies(20);
    public int irq_owner;
    public int consumer_pid;
    public int timeouts;

    public AdcChannel(AdcArray adc, int id, uint irq)
    {
        this.adc = adc;
        this.id = id;
        this.irq = irq;
    }

    public int start()
    {
        return request_threaded_irq(irq, adc_hard, adc_thread, IRQF_SHARED | IRQF_ONESHOT, "adc-ch", null); // expect: KH4001 (IRQF_SHARED with a null dev_id)
    }

    public void stop()
    {
        free_irq(irq, this); // expect: KH4002 (the channel IRQ is requested only with a null dev_id, freed with this)
    }

    public void trigger()
    {
        spin_lock_irqsave(ch_lock, out ulong flags);
        done = false;
        started = jiffies;
        deadline = started + timeout;
        status |= 0x100;
        spin_unlock_irqrestore(ch_lock, flags);
    }

    // Wait-queue condition, used by every reader below.
    public bool conversion_done()
    {
        spin_lock_irqsave(ch_lock, out ulong flags);
        bool d = done;
        spin_unlock_irqrestore(ch_lock, flags);
        return d;
    }

    // Hard half: ack end-of-conversion and defer the readout to the thread.
    private irqreturn_t adc_hard(int irq_no, object? dev_id)
    {
        if ((status & 0x01) == 0)
            return IRQ_NONE;
        status &= ~0x01u;
        mdelay(1); // ok: KH1001 mdelay busy-waits, allowed in hard-IRQ context
        irq_owner = current.pid; // expect: KH4003 (the hard handler of request_threaded_irq runs in hard-IRQ context)
        return IRQ_WAKE_THREAD;
    }

    // thread_fn: process context, may sleep.
    private irqreturn_t adc_thread(int irq_no, object? dev_id)
    {
        var scratch = kmalloc(64, GFP_ATOMIC); // expect: KH1003 (thread_fn runs in process context with nothing held)
        if (scratch == NULL)
            return IRQ_HANDLED;
        memset(scratch, 0, 64);
        msleep(1); // ok: KH1001 thread_fn runs in process context
        spin_lock_irq(ch_lock);
        sample = (int)(status >> 16);
        done = true;
        status &= ~0x100u;
        spin_unlock_irq(ch_lock);
        kfree(scratch);
        consumer_pid = current.pid; // ok: KH4003 thread_fn of a threaded IRQ runs in process context
        wake_up(done_wq);
        return IRQ_HANDLED;
    }

    // Called by the poller kthread for a conversion that never finished.
    public void kick()
    {
        spin_lock(ch_lock);
        timeouts++;
        status &= ~0x100u;
        adc.bus_write(id, 0x1); // expect: KH1001 (bus_write() takes the bus mutex and may sleep; ch_lock is held)
        spin_unlock(ch_lock);
    }
}

public sealed class AdcArray
{
    private const int NR_CH = 8;
    private readonly AdcChannel[] chans = new AdcChannel[NR_CH];
    private readonly mutex bus_lock = new();
    private readonly spinlock_t pool_lock = new();
    private readonly int[] bus_regs = new int[NR_CH];
    private readonly irq_handler_t overflow_ack = (irq, dev) => IRQ_HANDLED;
    private task_struct? poller;
    private kptr pool = NULL;
    private uint overflow_irq;
    private uint summary_irq;
    private uint cal_irq;
    private uint summary_reg;
    private int cal_count;
    private ulong vm_seen;
    private ulong last_scan;
    private bool lazy_tlb;

    public int probe(uint first_irq, uint ovf_line, uint sum_line, uint cal_line)
    {
        overflow_irq = ovf_line;
        summary_irq = sum_line;
        cal_irq = cal_line;
        for (int i = 0; i < NR_CH; i++)
            chans[i] = new AdcChannel(this, i, first_irq + (uint)i);
        for (int i = 0; i < NR_CH; i++)
        {
            int err = chans[i].start();
            if (err != 0)
            {
                while (--i >= 0)
                    chans[i].stop();
                return err;
            }
        }
        int ret = request_irq(overflow_irq, overflow_ack, IRQF_SHARED, "adc-ovf", this); // expect: KH4004 (the field-stored handler returns IRQ_HANDLED on every path and reads no device state)
        if (ret != 0)
            return ret;
        ret = request_irq(summary_irq, summary_isr, IRQF_SHARED, "adc-summary", this); // ok: KH4004 summary_isr tests this.summary_reg and can return IRQ_NONE
        if (ret != 0)
            return ret;
        ret = request_irq(cal_irq, cal_isr, IRQF_TRIGGER_RISING, "adc-cal", null); // ok: KH4001 exclusive line: a null dev_id is allowed without IRQF_SHARED
        if (ret != 0)
            return ret;
        poller = kthread_run(poll_thread, this, "adc-poll");
        return 0;
    }

    private irqreturn_t summary_isr(int irq, object? dev_id)
    {
        uint pending = summary_reg;
        if (pending == 0)
            return IRQ_NONE;
        summary_reg = 0;
        for (int i = 0; i < NR_CH; i++)
        {
            if ((pending & (1u << i)) != 0)
                chans[i].status |= 0x01;
        }
        return IRQ_HANDLED;
    }

    private static irqreturn_t cal_isr(int irq, object? dev_id) => IRQ_HANDLED;

    public void bus_write(int ch, int val)
    {
        mutex_lock(bus_lock);
        bus_regs[ch] = val;
        mutex_unlock(bus_lock);
    }

    // Kernel thread: looks for conversions past their deadline.
    private int poll_thread(object? data)
    {
        if (current.mm != init_mm) // expect: KH6001 (no task's mm is init_mm; the test for a kernel thread is mm == null)
            pr_warn("adc-poll: running in a user context?");
        lazy_tlb = borrowed_kernel_mm();
        while (!kthread_should_stop())
        {
            ulong now = jiffies;
            for (int i = 0; i < NR_CH; i++)
            {
                var c = chans[i];
                if ((c.status & 0x100) != 0 && now >= c.deadline) // expect: KH5001 (raw >= between a jiffies snapshot and the channel deadline)
                    c.kick();
                else if (jiffies - c.started > c.timeout * 4) // ok: KH5001 elapsed time (a difference) compared with a duration
                    c.timeouts = 0;
            }
            last_scan = now;
            vm_seen = current.mm.total_vm; // expect: KH6002 (kthread_run threadfn: current.mm is null in a kernel thread)
            vm_seen += owner_vm();
            refill_pool();
            set_current_state(TASK_INTERRUPTIBLE);
            schedule_timeout((long)(HZ / 4)); // ok: KH5002 periodic sleep with no prepare_to_wait, inside the kthread_should_stop() loop
        }
        return 0;
    }

    private ulong owner_vm() => current.mm?.total_vm ?? 0; // ok: KH6002 null-conditional access checks mm first

    private bool borrowed_kernel_mm() => current.active_mm == init_mm; // ok: KH6001 active_mm (not mm) may legitimately be init_mm

    private void refill_pool()
    {
        spin_lock(pool_lock);
        if (pool == NULL)
            pool = kzalloc(512, GFP_ATOMIC); // ok: KH1003 pool_lock is held, so the allocation must not sleep
        spin_unlock(pool_lock);
    }

    public bool is_user_caller() => current.mm != null; // ok: KH6001 the correct kernel-thread test (mm == null)

    // read(): one wait, no loop.
    public int read_channel_once(int id)
    {
        var c = chans[id];
        c.trigger();
        var wait = DEFINE_WAIT();
        prepare_to_wait(c.done_wq, wait, TASK_UNINTERRUPTIBLE);
        if (!c.conversion_done())
            schedule(); // expect: KH5002 (schedule() after prepare_to_wait with no loop re-testing conversion_done())
        finish_wait(c.done_wq, wait);
        return c.sample;
    }

    public int read_channel(int id)
    {
        var c = chans[id];
        c.trigger();
        long left = wait_event_timeout(c.done_wq, () => c.conversion_done(), (long)(HZ / 10)); // ok: KH5002 wait_event_timeout re-checks the condition itself
        return left == 0 ? -EIO : c.sample;
    }

    public int read_all(int[] samples)
    {
        var wait = DEFINE_WAIT();
        foreach (var c in chans)
            c.trigger();
        foreach (var c in chans)
        {
            prepare_to_wait(c.done_wq, wait, TASK_UNINTERRUPTIBLE);
            while (!c.conversion_done())
            {
                schedule(); // ok: KH5002 the inner while re-tests conversion_done() after each wake-up
                prepare_to_wait(c.done_wq, wait, TASK_UNINTERRUPTIBLE);
            }
            finish_wait(c.done_wq, wait);
            samples[c.id] = c.sample;
        }
        return 0;
    }

    public void remove()
    {
        if (poller != null)
            kthread_stop(poller);
        free_irq(overflow_irq, this); // ok: KH4002 same dev_id (this) as the request
        free_irq(summary_irq, this); // ok: KH4002 same dev_id (this) as the request
        free_irq(cal_irq, null); // ok: KH4002 the exclusive line was requested with null too
        for (int i = 0; i < NR_CH; i++)
            chans[i].stop();
        kfree(pool);
        pool = NULL;
    }
}
