from studioloop.core.errors import BadRequest, Conflict, NotFound


class LocationNotFound(NotFound):
    code = "LOCATION_NOT_FOUND"
    message = "No such location in this studio."


class RoomNotFound(NotFound):
    code = "ROOM_NOT_FOUND"
    message = "No such room in this studio."


class ClassNotFound(NotFound):
    code = "CLASS_NOT_FOUND"
    message = "No such class in this studio."


class ScheduleNotFound(NotFound):
    code = "SCHEDULE_NOT_FOUND"
    message = "No such class occurrence in this studio."


class SeriesNotFound(NotFound):
    code = "SERIES_NOT_FOUND"
    message = "No such recurring schedule in this studio."


class ScheduleConflict(Conflict):
    code = "SCHEDULE_CONFLICT"
    message = "This overlaps another class with the same instructor or room."


class CapacityAboveRoom(Conflict):
    code = "CAPACITY_ABOVE_ROOM"
    message = "The class holds more people than the room."


class CapacityBelowBookings(Conflict):
    code = "CAPACITY_BELOW_BOOKINGS"
    message = "More people are already booked than this capacity allows."


class ClassHasBookings(Conflict):
    code = "CLASS_HAS_BOOKINGS"
    message = "This class has future bookings; deactivate it instead of deleting it."


class AlreadyCancelled(Conflict):
    code = "ALREADY_CANCELLED"
    message = "This class occurrence is already cancelled."


class NameTaken(Conflict):
    code = "NAME_TAKEN"
    message = "Something with this name already exists here."


class GeocodingUnavailable(BadRequest):
    code = "GEOCODING_UNAVAILABLE"
    message = "Places cannot be looked up by name here; share your location instead."


class PlaceNotFound(NotFound):
    code = "PLACE_NOT_FOUND"
    message = "No place by that name was found."
