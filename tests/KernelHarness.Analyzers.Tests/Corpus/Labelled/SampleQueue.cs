// A data-acquisition card feeding a ring of samples: a threaded IRQ produces, read()/write() and a kthread consume with wait queues.
// Mistakes: waits that sleep without re-checking their condition (LKD ch. 4), `current` on the hard-IRQ path, null cookie on a shared line.
using KernelHarness;
using static KernelHarness.Kernel;

namespace Corpus.Labelled.SampleQueue;

public sealed class SampleChannel
{
    public readonly wait_queue_head_t wq = new();
    public int id;
    public int pending;
    public bool armed;
}

public sealed class DaqCard
{
    public const uint CSR_SAMPLE = 0x1;
    public const uint CSR_OVERRUN = 0x2;
    public uint csr;
    public int fifo_level;

    public bool has_samples() => (csr & CSR_SAMPLE) != 0 && fifo_level > 0;

    public int read_sample()
    {
        fifo_level--;
        if (fifo_level == 0)
            csr &= ~CSR_SAMPLE;
        return 0x1234;
    }
}

public sealed class SampleQueue
{
    private const int CAP = 64;

    private readonly DaqCard daq = new();
    private readonly spinlock_t q_lock = new();
    private readonly wait_queue_head_t readq = new();
    private readonly wait_queue_head_t writeq = new();
    private readonly wait_queue_head_t idleq = new();
    private readonly completion stopped = new();
    private readonly work_struct stats_work = new();
    private readonly SampleChannel[] channels = { new SampleChannel { id = 0 }, new SampleChannel { id = 1 } };
    private readonly int[] ring = new int[CAP];
    private readonly irq_handler_t aux_handler;
    private task_struct? consumer;
    private int head;
    private int tail;
    private int count;
    private bool ready;
    private bool flushing;
    private uint daq_irq;
    private uint aux_irq;
    private uint selftest_irq;
    private int last_producer;
    private int last_consumer;
    private string aux_comm = "";
    private ulong consumed;
    private ulong window_start;

    public SampleQueue()
    {
        aux_handler = aux_isr;
    }

    public int probe(uint line, uint aux_line, uint test_line)
    {
        daq_irq = line;
        aux_irq = aux_line;
        selftest_irq = test_line;
        INIT_WORK(stats_work, stats_fn);
        window_start = jiffies;

        int err = request_irq(selftest_irq, selftest_isr, IRQF_TRIGGER_RISING, "daq-selftest", null); // ok: KH4001 a line that is not shared may have a null dev_id
        if (err != 0)
            return err;
        free_irq(selftest_irq, null); // ok: KH4002 same null cookie as the request

        err = request_threaded_irq(daq_irq, daq_hardirq, daq_thread, IRQF_SHARED | IRQF_ONESHOT, "daq", null); // expect: KH4001 (IRQF_SHARED with a null dev_id)
        if (err != 0)
            return err;

        err = request_irq(aux_irq, aux_handler, IRQF_SHARED, "daq-aux", daq); // expect: KH4004 (aux_isr, stored in a field, returns IRQ_HANDLED on every path and never reads daq or dev_id)
        if (err != 0)
        {
            free_irq(daq_irq, this); // expect: KH4002 (daq_irq is requested only with null as dev_id)
            return err;
        }
        consumer = kthread_run(consumer_thread, this, "daq-consumer");
        ready = true;
        return 0;
    }

    private irqreturn_t selftest_isr(int irq_no, object? dev_id)
    {
        ready = true;
        return IRQ_HANDLED;
    }

    // Hard-IRQ half: only asks the card and wakes the thread.
    private irqreturn_t daq_hardirq(int irq_no, object? dev_id)
    {
        if (!daq.has_samples())
            return IRQ_NONE;
        stamp_producer();
        return IRQ_WAKE_THREAD;
    }

    private void stamp_producer()
    {
        last_producer = current.pid; // expect: KH4003 (reached from the hard-IRQ handler daq_hardirq)
    }

    // Threaded half (process context): moves samples into the ring.
    private irqreturn_t daq_thread(int irq_no, object? dev_id)
    {
        int moved = 0;
        spin_lock_irq(q_lock);
        while (daq.has_samples() && count < CAP)
        {
            ring[head] = daq.read_sample();
            head = (head + 1) % CAP;
            count++;
            moved++;
        }
        spin_unlock_irq(q_lock);
        pr_debug($"daq: {moved} samples, thread {current.comm}\n"); // ok: KH4003 thread_fn of request_threaded_irq runs in process context
        wake_up_interruptible(readq);
        return IRQ_HANDLED;
    }

    // Hard IRQ registered through a delegate field: the aux line only signals "idle".
    private irqreturn_t aux_isr(int irq_no, object? dev_id)
    {
        aux_comm = current.comm; // expect: KH4003 (hard-IRQ handler registered through the aux_handler field)
        wake_up_all(idleq);
        return IRQ_HANDLED;
    }

    // Kernel thread: the consumer.
    private int consumer_thread(object? data)
    {
        last_consumer = current.pid; // ok: KH4003 kernel thread, process context
        while (!kthread_should_stop())
        {
            wait_event_interruptible(readq, () => count > 0 || kthread_should_stop()); // ok: KH5002 wait_event* loops on the condition itself
            drain_ring();
        }
        complete(stopped);
        return 0;
    }

    private void drain_ring()
    {
        spin_lock_irq(q_lock);
        while (count > 0)
        {
            tail = (tail + 1) % CAP;
            count--;
            consumed++;
        }
        spin_unlock_irq(q_lock);
        wake_up_interruptible(writeq);
        schedule_work(stats_work);
    }

    // Work item: throughput statistics every ten seconds.
    private void stats_fn(work_struct w)
    {
        if (jiffies - window_start >= 10 * HZ) // ok: KH5001 difference of two times compared with a duration
            pr_info($"daq: {consumed} samples consumed (reader {current.pid})\n"); // ok: KH4003 work item, process context
        if (window_start + 10 * HZ < jiffies) // expect: KH5001 (raw < between window_start + 10*HZ and jiffies)
            window_start = jiffies;
    }

    // read(): the LKD chapter 4 loop.
    public int read(int[] dst)
    {
        var wait = DEFINE_WAIT();
        for (;;)
        {
            prepare_to_wait(readq, wait, TASK_INTERRUPTIBLE);
            if (count > 0)
                break;
            if (signal_pending(current))
            {
                finish_wait(readq, wait);
                return -ERESTARTSYS;
            }
            schedule(); // ok: KH5002 LKD loop, condition re-tested after every wake-up
        }
        finish_wait(readq, wait);
        return take(dst);
    }

    // write(): the while (!condition) form of the same pattern.
    public int write(int sample)
    {
        var wait = DEFINE_WAIT();
        while (count == CAP)
        {
            prepare_to_wait(writeq, wait, TASK_INTERRUPTIBLE);
            if (signal_pending(current))
                break;
            schedule(); // ok: KH5002 the while condition re-reads count after every wake-up
        }
        finish_wait(writeq, wait);
        if (count == CAP)
            return -ERESTARTSYS;
        spin_lock_irq(q_lock);
        ring[head] = sample;
        head = (head + 1) % CAP;
        count++;
        spin_unlock_irq(q_lock);
        wake_up_interruptible(readq);
        return 1;
    }

    // read with a timeout, still looping on the condition.
    public int read_timeout(int[] dst, uint ms)
    {
        var wait = DEFINE_WAIT();
        long left = (long)msecs_to_jiffies(ms);
        for (;;)
        {
            prepare_to_wait(readq, wait, TASK_INTERRUPTIBLE);
            if (count > 0 || left == 0 || signal_pending(current))
                break;
            left = schedule_timeout(left); // ok: KH5002 inside the loop that re-tests count
        }
        finish_wait(readq, wait);
        return count > 0 ? take(dst) : -ETIMEDOUT;
    }

    // A bounded number of tries, but each round re-tests the condition and leaves when it holds.
    public int wait_ready_bounded()
    {
        var wait = DEFINE_WAIT();
        for (int tries = 0; tries < 5; tries++)
        {
            prepare_to_wait(idleq, wait, TASK_INTERRUPTIBLE);
            if (ready)
                break;
            schedule(); // ok: KH5002 the loop body re-tests ready and breaks out each time round
        }
        finish_wait(idleq, wait);
        return ready ? 0 : -EAGAIN;
    }

    // Flush: waits once for the aux "idle" interrupt and assumes it came.
    public void flush()
    {
        var wait = DEFINE_WAIT();
        flushing = true;
        prepare_to_wait(idleq, wait, TASK_UNINTERRUPTIBLE);
        schedule(); // expect: KH5002 (no condition at all: any wake-up on idleq ends the flush)
        finish_wait(idleq, wait);
        flushing = false;
    }

    // Waits for each channel in turn: the loop walks devices, it does not re-test pending.
    public void wait_all_channels()
    {
        var wait = DEFINE_WAIT();
        foreach (var ch in channels)
        {
            prepare_to_wait(ch.wq, wait, TASK_INTERRUPTIBLE);
            schedule(); // expect: KH5002 (foreach over channels is not a loop re-testing ch.pending)
            finish_wait(ch.wq, wait);
        }
    }

    // Retries three times whatever the queue holds.
    public int read_retry(int[] dst)
    {
        var wait = DEFINE_WAIT();
        for (int attempt = 0; attempt < 3; attempt++)
        {
            prepare_to_wait(readq, wait, TASK_INTERRUPTIBLE);
            schedule(); // expect: KH5002 (counting loop never re-tests count: it sleeps again even when data arrived)
        }
        finish_wait(readq, wait);
        return count > 0 ? take(dst) : -EAGAIN;
    }

    // Checks the condition before preparing, then sleeps once.
    public int wait_ready_once()
    {
        if (ready)
            return 0;
        var wait = DEFINE_WAIT();
        prepare_to_wait(idleq, wait, TASK_INTERRUPTIBLE);
        schedule(); // expect: KH5002 (the test of ready is before prepare_to_wait and never repeated)
        finish_wait(idleq, wait);
        return 0;
    }

    public long wait_empty(uint ms)
    {
        return wait_event_timeout(writeq, () => count == 0, (long)msecs_to_jiffies(ms)); // ok: KH5002 wait_event_timeout re-tests the condition
    }

    private int take(int[] dst)
    {
        int n = 0;
        spin_lock_irq(q_lock);
        while (n < dst.Length && count > 0)
        {
            dst[n++] = ring[tail];
            tail = (tail + 1) % CAP;
            count--;
        }
        spin_unlock_irq(q_lock);
        wake_up_interruptible(writeq);
        return n;
    }

    public void remove()
    {
        if (consumer != null)
            kthread_stop(consumer);
        free_irq(aux_irq, daq); // ok: KH4002 same field as the request
        free_irq(daq_irq, null); // ok: KH4002 same (null) expression as the request
        cancel_work_sync(stats_work);
    }
}
