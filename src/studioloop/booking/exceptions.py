from studioloop.core.errors import AppError, Conflict, Forbidden, NotFound


class BookingNotFound(NotFound):
    code = "BOOKING_NOT_FOUND"
    message = "No such booking."


class ClassFull(Conflict):
    code = "CLASS_FULL"
    message = "This class is full. Join the waitlist to be offered a place that frees up."


class AlreadyBooked(Conflict):
    code = "ALREADY_BOOKED"
    message = "You already have a place (or a waitlist spot) in this class."


class BookingWindowClosed(Conflict):
    code = "BOOKING_WINDOW_CLOSED"
    message = "This class has started or finished; it can no longer be booked."


class BookingNotOpen(Conflict):
    code = "BOOKING_NOT_OPEN"
    message = "Booking for this class has not opened yet."


class MemberScheduleConflict(Conflict):
    code = "SCHEDULE_CONFLICT"
    message = "You are already booked into a class at the same time."


class ClassCancelled(Conflict):
    code = "CLASS_CANCELLED"
    message = "This class was cancelled."


class BookingLimitReached(Conflict):
    code = "BOOKING_LIMIT_REACHED"
    message = "You have reached this studio's limit on bookings."


class PaymentRequired(AppError):
    status_code = 402
    code = "PAYMENT_REQUIRED"
    message = "This class must be paid for before your place is confirmed."


class MembershipInactive(Forbidden):
    code = "MEMBERSHIP_INACTIVE"
    message = "Your membership of this studio is inactive; contact the studio."


class NotCancellable(Conflict):
    code = "NOT_CANCELLABLE"
    message = "Only upcoming confirmed or waitlisted bookings can be cancelled."


class MembershipRequired(Forbidden):
    code = "MEMBERSHIP_REQUIRED"
    message = "This class is for members with an active membership of the studio."
